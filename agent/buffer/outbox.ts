import type { Statement } from 'better-sqlite3';
import type { PredictionRecord } from '../../protocol/predictions.js';
import type { SqliteDatabase } from './database.js';

/** A prediction before the outbox has given it a sequence number. */
export type NewPrediction = Omit<PredictionRecord, 'seq'>;

interface OutboxRow {
  seq: number;
  payload: string;
}

/**
 * The predictions that must reach central, in commit order. The outbox is the source of
 * truth: a row counts as delivered only once `markSent` records the broker's ack for it.
 */
export class Outbox {
  private readonly insert: Statement<[number, string, string, string, string, number, string]>;
  private readonly unsent: Statement<[number], OutboxRow>;
  private readonly markRange: Statement<[number, number, number]>;
  private readonly countPending: Statement<[], number>;
  private readonly countPendingUpTo: Statement<[number], number>;
  private readonly oldestPending: Statement<[], number>;
  private readonly countAll: Statement<[], number>;
  private readonly pruneBefore: Statement<[number]>;
  private readonly appendAll: (records: readonly NewPrediction[]) => number[];

  constructor(db: SqliteDatabase) {
    this.insert = db.prepare(
      'INSERT INTO predictions (ts, source, model, model_version, label, score, payload) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.unsent = db.prepare('SELECT seq, payload FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT ?');
    this.markRange = db.prepare('UPDATE predictions SET sent_at = ? WHERE seq BETWEEN ? AND ? AND sent_at IS NULL');
    this.countPending = db.prepare<[], number>('SELECT count(*) FROM predictions WHERE sent_at IS NULL').pluck();
    this.countPendingUpTo = db
      .prepare<[number], number>('SELECT count(*) FROM (SELECT 1 FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT ?)')
      .pluck();
    this.oldestPending = db.prepare<[], number>('SELECT ts FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT 1').pluck();
    this.countAll = db.prepare<[], number>('SELECT count(*) FROM predictions').pluck();
    this.pruneBefore = db.prepare('DELETE FROM predictions WHERE sent_at IS NOT NULL AND sent_at < ?');
    this.appendAll = db.transaction((records: readonly NewPrediction[]) =>
      records.map((r) => {
        const info = this.insert.run(r.ts, r.source, r.model, r.modelVersion, r.label, r.score, serialize(r));
        return Number(info.lastInsertRowid);
      }),
    );
  }

  /** Commits `records` in one transaction and returns their sequence numbers, in order. */
  append(records: readonly NewPrediction[]): number[] {
    if (records.length === 0) return [];
    return this.appendAll(records);
  }

  /**
   * The oldest unsent predictions, at most `maxCount` of them and at most `maxBytes` of
   * serialized records (each record's JSON plus a separator). The first row is always
   * returned even when it alone is larger, so one odd row can never wedge the outbox.
   */
  nextBatch(maxCount: number, maxBytes: number): PredictionRecord[] {
    const out: PredictionRecord[] = [];
    let bytes = 0;
    for (const row of this.unsent.iterate(maxCount)) {
      const size = recordBytes(row) + 1;
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push({ ...(JSON.parse(row.payload) as NewPrediction), seq: row.seq });
    }
    return out;
  }

  /** Records the broker's ack for the unsent rows in firstSeq..lastSeq; returns how many changed. */
  markSent(firstSeq: number, lastSeq: number, at: number): number {
    return this.markRange.run(at, firstSeq, lastSeq).changes;
  }

  pendingCount(): number {
    return this.countPending.get() ?? 0;
  }

  /** Whether at least `n` rows wait; costs O(n), not O(backlog). */
  pendingAtLeast(n: number): boolean {
    return (this.countPendingUpTo.get(n) ?? 0) >= n;
  }

  /** Wall time of the oldest unsent prediction, by sequence. */
  oldestPendingTs(): number | undefined {
    return this.oldestPending.get();
  }

  totalCount(): number {
    return this.countAll.get() ?? 0;
  }

  sentCount(): number {
    return this.totalCount() - this.pendingCount();
  }

  /** Deletes rows acknowledged before `sentBefore`; unsent rows are never touched. */
  pruneSent(sentBefore: number): number {
    return this.pruneBefore.run(sentBefore).changes;
  }
}

/** The record without any `seq` a caller may have left on it: the outbox alone assigns them. */
function serialize(record: NewPrediction): string {
  return JSON.stringify({ ...record, seq: undefined });
}

function recordBytes(row: OutboxRow): number {
  // Serializing adds exactly `,"seq":N` to the stored payload.
  return Buffer.byteLength(row.payload) + `"seq":${row.seq},`.length;
}
