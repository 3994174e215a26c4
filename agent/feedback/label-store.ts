import type { Statement } from 'better-sqlite3';
import type { LabelRecord } from '../../protocol/feedback.js';
import type { SqliteDatabase } from '../buffer/database.js';

/** What the store holds of a labelled prediction. */
export interface LabelledPrediction {
  seq: number;
  model: string;
  modelVersion: string;
  source: string;
  frameId: string;
  label: string;
  step: string;
  features: Record<string, number> | undefined;
}

/**
 * Labels of predictions, one per prediction (a later label replaces the earlier one and is
 * sent again), kept beside the predictions in the agent's SQLite file.
 */
export class LabelStore {
  private readonly prediction: Statement<[number], { seq: number; model: string; model_version: string; source: string; label: string; step: string; payload: string }>;
  private readonly upsert: Statement;
  private readonly unsentRows: Statement<[number]>;
  private readonly mark: Statement<[number, number]>;

  constructor(private readonly db: SqliteDatabase) {
    this.prediction = db.prepare('SELECT seq, model, model_version, source, label, step, payload FROM predictions WHERE seq = ?');
    this.upsert = db.prepare(
      `INSERT INTO labels (seq, ts, model, model_version, source, predicted, label, correct, by, sample_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (seq) DO UPDATE SET ts = excluded.ts, label = excluded.label, correct = excluded.correct, by = excluded.by,
         sample_id = coalesce(excluded.sample_id, labels.sample_id), sent_at = NULL`,
    );
    this.unsentRows = db.prepare('SELECT * FROM labels WHERE sent_at IS NULL ORDER BY seq LIMIT ?');
    this.mark = db.prepare('UPDATE labels SET sent_at = ? WHERE seq = ? AND sent_at IS NULL');
  }

  /** The prediction a label is for, while the store still holds it. */
  predictionOf(seq: number): LabelledPrediction | undefined {
    const row = this.prediction.get(seq);
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as { frameId?: string; features?: Record<string, number> };
    return { seq: row.seq, model: row.model, modelVersion: row.model_version, source: row.source, frameId: payload.frameId ?? '', label: row.label, step: row.step, features: payload.features };
  }

  /** A sample already captured for the prediction (drift, low confidence), so it is not kept twice. */
  sampleOf(seq: number): number | undefined {
    const id = this.db.prepare('SELECT id FROM samples WHERE seq = ? ORDER BY id LIMIT 1').pluck().get(seq) as number | undefined;
    return id;
  }

  put(r: LabelRecord): void {
    this.upsert.run(r.seq, r.ts, r.model, r.modelVersion, r.source, r.predicted, r.label, r.correct ? 1 : 0, r.by, r.sampleId ?? null);
  }

  unsent(limit: number): LabelRecord[] {
    const rows = this.unsentRows.all(limit) as Array<{ seq: number; ts: number; model: string; model_version: string; source: string; predicted: string; label: string; correct: number; by: string; sample_id: number | null }>;
    return rows.map((r) => ({ seq: r.seq, ts: r.ts, model: r.model, modelVersion: r.model_version, source: r.source, predicted: r.predicted, label: r.label, correct: r.correct === 1, by: r.by, ...(r.sample_id === null ? {} : { sampleId: r.sample_id }) }));
  }

  markSent(seqs: readonly number[], at: number): void {
    this.db.transaction(() => {
      for (const seq of seqs) this.mark.run(at, seq);
    })();
  }

  /** The latest labels of a model, oldest first: what live accuracy starts from after a restart. */
  recent(model: string, limit: number): Array<{ predicted: string; label: string; ts: number }> {
    const rows = this.db.prepare('SELECT predicted, label, ts FROM labels WHERE model = ? ORDER BY ts DESC, seq DESC LIMIT ?').all(model, limit) as Array<{ predicted: string; label: string; ts: number }>;
    return rows.reverse();
  }
}
