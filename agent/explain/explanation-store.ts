import type { Statement } from 'better-sqlite3';
import { CheckedExplanation, type ExplanationMethod, type ExplanationValues } from '../../protocol/explanations.js';
import type { SqliteDatabase } from '../buffer/database.js';
import { KEEP_EXPLAINED } from '../buffer/eviction.js';

/** An explanation as stored beside its prediction. */
export interface StoredExplanation {
  seq: number;
  ts: number;
  model: string;
  method: ExplanationMethod;
  values: ExplanationValues;
  sentAt: number | null;
}

interface Row {
  seq: number;
  ts: number;
  model: string;
  method: string;
  body: string;
  sent_at: number | null;
}

/**
 * The `explanations` table: one row per explained prediction, keyed by its seq. Writing one
 * also moves its prediction to the `explained` eviction class, so the quota keeps it longer.
 */
export class ExplanationStore {
  private readonly insert: Statement<[{ seq: number; ts: number; model: string; method: string; body: string }]>;
  private readonly keep: Statement<[number, number]>;
  private readonly one: Statement<[number], Row>;
  private readonly unsent: Statement<[number], Row>;
  private readonly mark: Statement<[number, number]>;
  private readonly countUnsent: Statement<[], number>;
  private readonly write: (e: Omit<StoredExplanation, 'sentAt'>) => boolean;
  private readonly markAll: (seqs: readonly number[], at: number) => void;

  constructor(db: SqliteDatabase) {
    this.insert = db.prepare('INSERT OR REPLACE INTO explanations (seq, ts, model, method, body) SELECT @seq, @ts, @model, @method, @body WHERE EXISTS (SELECT 1 FROM predictions WHERE seq = @seq)');
    this.keep = db.prepare('UPDATE predictions SET keep = max(keep, ?) WHERE seq = ?');
    this.one = db.prepare('SELECT seq, ts, model, method, body, sent_at FROM explanations WHERE seq = ?');
    this.unsent = db.prepare('SELECT seq, ts, model, method, body, sent_at FROM explanations WHERE sent_at IS NULL ORDER BY seq LIMIT ?');
    this.mark = db.prepare('UPDATE explanations SET sent_at = ? WHERE seq = ? AND sent_at IS NULL');
    this.countUnsent = db.prepare<[], number>('SELECT count(*) FROM explanations WHERE sent_at IS NULL').pluck();
    this.markAll = db.transaction((seqs: readonly number[], at: number) => {
      for (const seq of seqs) this.mark.run(at, seq);
    });
    this.write = db.transaction((e: Omit<StoredExplanation, 'sentAt'>) => {
      const changed = this.insert.run({ seq: e.seq, ts: e.ts, model: e.model, method: e.method, body: JSON.stringify(e.values) }).changes;
      if (changed > 0) this.keep.run(KEEP_EXPLAINED, e.seq);
      return changed > 0;
    });
  }

  /** Stores an explanation; false when its prediction is no longer in the store (evicted or pruned). */
  put(e: Omit<StoredExplanation, 'sentAt'>): boolean {
    CheckedExplanation.parse(e);
    return this.write(e);
  }

  get(seq: number): StoredExplanation | undefined {
    const row = this.one.get(seq);
    return row ? decode(row) : undefined;
  }

  /** The oldest unsent explanations, at most `limit`. */
  pending(limit: number): StoredExplanation[] {
    return this.unsent.all(limit).map(decode);
  }

  pendingCount(): number {
    return this.countUnsent.get() ?? 0;
  }

  /** Records the broker's ack for these explanations, in one transaction. */
  markSent(seqs: readonly number[], at: number): void {
    this.markAll(seqs, at);
  }
}

function decode(row: Row): StoredExplanation {
  return { seq: row.seq, ts: row.ts, model: row.model, method: row.method as ExplanationMethod, values: JSON.parse(row.body) as ExplanationValues, sentAt: row.sent_at };
}
