import type { Statement } from 'better-sqlite3';
import type { ScoredLabel } from '../../protocol/predictions.js';
import type { SqliteDatabase } from '../buffer/database.js';
import { PredictionContext, type PredictionDrift, type PredictionThumbnail } from './prediction-context.js';
import { PredictionLabels, type PredictionGroundTruth } from './prediction-labels.js';

/** One line of the predictions list; `flags` says why it deserves a look (`low_confidence`, `drift_alarm`). */
export interface PredictionSummary {
  seq: number;
  ts: number;
  source: string;
  model: string;
  modelVersion: string;
  label: string;
  score: number;
  /** Wall ms the broker acknowledged it; null while in the outbox. */
  sentAt: number | null;
  flags: string[];
  /** The fail-safe step that made it: `model` (the serving model), `fallback`, `rule` or `manual` (needs inspection). */
  step: string;
}

/** One prediction in full, with what the agent kept beside it (each null when there is none). */
export interface PredictionDetail extends PredictionSummary {
  frameId: string;
  topK: ScoredLabel[];
  latencyMs: number;
  /** The input, when it was captured (low confidence, drift alarm, operator request). */
  thumbnail: PredictionThumbnail | null;
  /** Why the model answered so (an occlusion map, Shapley values), once computed; null when not explained. */
  explanation: PredictionExplanation | null;
  /** The drift window it was judged in; null when its model is not watched or the window is still open. */
  drift: PredictionDrift | null;
  /** Why the serving model's answer was not used (`timeout`, `error`, `nan`, `low-confidence`, with the rule); null when it was. */
  fallbackReason: string | null;
  /** The label an operator or central attached; null while none was. */
  groundTruth: PredictionGroundTruth | null;
  /** The labels its model knows, for attaching one; null when unknown or too many to list. */
  labelChoices: string[] | null;
}

export interface PredictionExplanation {
  method: string;
  ts: number;
  values: unknown;
  sentAt: number | null;
}

export interface PredictionFilter {
  label?: string | undefined;
  flagged?: boolean | undefined;
  /** Only predictions judged in a drift window at alarm. */
  alarm?: boolean | undefined;
  limit: number;
}

interface Row {
  seq: number;
  ts: number;
  source: string;
  model: string;
  model_version: string;
  label: string;
  score: number;
  sent_at: number | null;
  step: string;
  drift_level?: string | null;
}

/** A filter looks at most at this many newest rows, so a rare label never scans a month of backlog. */
const SCAN_WINDOW = 50_000;

/**
 * Read-only queries for the status page over the agent's SQLite file. Kept apart from the
 * outbox, whose statements are the hot path's: nothing here writes.
 */
export class StoreView {
  private readonly newest: Statement<[number, string | null, string | null, number, number, number], Row>;
  private readonly context: PredictionContext;
  private readonly labels: PredictionLabels;
  private readonly one: Statement<[number], Row & { payload: string }>;
  private readonly maxSeq: Statement<[], number | null>;
  private readonly explanation: Statement<[number], { method: string; ts: number; body: string; sent_at: number | null }>;
  private readonly eventKinds: Statement<[], string>;

  /** `flagBelow`: a prediction whose top score is below this is flagged as low confidence. */
  constructor(
    db: SqliteDatabase,
    private readonly flagBelow: number,
    /** The configured models with their inline labels, for the label choices. */
    models: ReadonlyArray<{ name: string; labels?: readonly string[] | undefined }> = [],
  ) {
    // When the run of acknowledged rows covering the prediction was acknowledged: one index seek per row listed.
    const sentAt = 'SELECT CASE WHEN a.last >= p.seq THEN a.at END FROM predictions_acked a WHERE a.first <= p.seq ORDER BY a.first DESC LIMIT 1';
    const columns = `seq, ts, source, model, model_version, label, score, (${sentAt}) AS sent_at, step`;
    // The level of the drift window each prediction was judged in: one index seek per row, only for rows listed or filtered on.
    const driftLevel = 'SELECT level FROM drift_windows w WHERE w.model = p.model AND w.ended_at >= p.ts ORDER BY w.ended_at LIMIT 1';
    this.newest = db.prepare(
      `SELECT ${columns}, (${driftLevel}) AS drift_level FROM predictions p
        WHERE seq > ? AND (? IS NULL OR label = ?) AND score < ? AND (? = 0 OR (${driftLevel}) = 'alarm') ORDER BY seq DESC LIMIT ?`,
    );
    this.context = new PredictionContext(db);
    this.labels = new PredictionLabels(db, models);
    this.one = db.prepare(`SELECT ${columns}, (${driftLevel}) AS drift_level, payload FROM predictions p WHERE seq = ?`);
    this.explanation = db.prepare('SELECT method, ts, body, sent_at FROM explanations WHERE seq = ?');
    this.maxSeq = db.prepare<[], number | null>('SELECT max(seq) FROM predictions').pluck();
    // Walks the (kind, id) index one kind at a time instead of scanning every event.
    this.eventKinds = db
      .prepare<[], string>(
        `WITH RECURSIVE k(kind) AS (SELECT min(kind) FROM events UNION ALL SELECT (SELECT min(kind) FROM events WHERE kind > k.kind) FROM k WHERE k.kind IS NOT NULL)
         SELECT kind FROM k WHERE kind IS NOT NULL`,
      )
      .pluck();
  }

  /** Newest first, optionally one label and only flagged ones. */
  predictions(filter: PredictionFilter): PredictionSummary[] {
    const from = Math.max(0, (this.maxSeq.get() ?? 0) - SCAN_WINDOW);
    const label = filter.label ?? null;
    const below = filter.flagged ? this.flagBelow : Number.POSITIVE_INFINITY;
    return this.newest.all(from, label, label, below, filter.alarm ? 1 : 0, filter.limit).map((r) => this.summary(r));
  }

  prediction(seq: number): PredictionDetail | undefined {
    const row = this.one.get(seq);
    if (!row) return undefined;
    const payload = JSON.parse(row.payload) as { frameId?: string; topK?: ScoredLabel[]; latencyMs?: number; fallbackReason?: string };
    return {
      ...this.summary(row),
      frameId: payload.frameId ?? '',
      topK: payload.topK ?? [],
      latencyMs: payload.latencyMs ?? 0,
      thumbnail: this.context.thumbnail(seq),
      explanation: this.explained(seq),
      drift: this.context.drift(row.model, row.ts),
      fallbackReason: payload.fallbackReason ?? null,
      groundTruth: this.labels.groundTruth(seq),
      labelChoices: this.labels.choices(row.model, row.model_version),
    };
  }

  /** The captured image of prediction `seq`, for the detail's thumbnail. */
  input(seq: number): { mediaType: string; data: Buffer } | undefined {
    return this.context.input(seq);
  }

  private explained(seq: number): PredictionExplanation | null {
    const e = this.explanation.get(seq);
    return e ? { method: e.method, ts: e.ts, values: JSON.parse(e.body) as unknown, sentAt: e.sent_at } : null;
  }

  /** Every kind the audit trail holds, for the events filter. */
  kinds(): string[] {
    return this.eventKinds.all();
  }

  private summary(r: Row): PredictionSummary {
    return {
      seq: r.seq,
      ts: r.ts,
      source: r.source,
      model: r.model,
      modelVersion: r.model_version,
      label: r.label,
      score: r.score,
      sentAt: r.sent_at,
      flags: [...(r.score < this.flagBelow ? ['low_confidence'] : []), ...(r.drift_level === 'alarm' ? ['drift_alarm'] : []), ...(r.step !== 'model' ? [`failsafe_${r.step}`] : [])],
      step: r.step,
    };
  }
}
