import type { Statement } from 'better-sqlite3';
import type { PredictionRecord } from '../../protocol/predictions.js';
import type { SqliteDatabase } from './database.js';
import { KEEP_EXPLAINED, KEEP_FLAGGED, KEEP_PLAIN } from './eviction.js';

/** A prediction before the outbox has given it a sequence number. */
export type NewPrediction = Omit<PredictionRecord, 'seq'>;

interface OutboxRow {
  seq: number;
  payload: string;
}

export interface OutboxOptions {
  /** Predictions whose top score is below this are kept longer under the quota (flagged). */
  flagBelowScore?: number;
}

/**
 * Consecutive unsent rows as wire-ready JSON: `records` is the records' JSON joined by
 * commas, each with its `seq`, so a batch is built without parsing a single row.
 */
export interface EncodedRows {
  first: number;
  last: number;
  count: number;
  records: string;
  /** Whether the batch reached its count or byte bound (more rows may wait). */
  full: boolean;
}

/**
 * The predictions that must reach central, in commit order. The outbox is the source of
 * truth: a row counts as delivered only once `markSent` records the broker's ack for it.
 */
export class Outbox {
  private readonly insert: Statement<[number, string, string, string, string, number, string, number]>;
  private readonly unsentBetween: Statement<[number, number, number], [number, string]>;
  private readonly maxSeq: Statement<[], number>;
  private readonly unsent: Statement<[number], OutboxRow>;
  private readonly markRange: Statement<[number, number, number]>;
  private readonly countPending: Statement<[], number>;
  private readonly countPendingUpTo: Statement<[number], number>;
  private readonly oldestPending: Statement<[], number>;
  private readonly countAll: Statement<[], number>;
  private readonly pruneBefore: Statement<[number]>;
  private readonly appendAll: (records: readonly NewPrediction[]) => number[];
  private readonly markMany: (ranges: ReadonlyArray<readonly [number, number]>, at: number) => number;

  private readonly flagBelow: number;
  private meanBytes = 512;

  constructor(private readonly db: SqliteDatabase, opts: OutboxOptions = {}) {
    this.flagBelow = opts.flagBelowScore ?? 0;
    this.insert = db.prepare(
      'INSERT INTO predictions (ts, source, model, model_version, label, score, payload, keep) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // Raw rows (arrays, not objects): the drain reads hundreds of thousands of them.
    this.unsentBetween = db.prepare<[number, number, number], [number, string]>('SELECT seq, payload FROM predictions WHERE sent_at IS NULL AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?').raw();
    this.maxSeq = db.prepare<[], number>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'predictions'), 0)").pluck();
    this.unsent = db.prepare('SELECT seq, payload FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT ?');
    this.markRange = db.prepare('UPDATE predictions SET sent_at = ? WHERE seq BETWEEN ? AND ? AND sent_at IS NULL');
    this.countPending = db.prepare<[], number>('SELECT count(*) FROM predictions WHERE sent_at IS NULL').pluck();
    this.countPendingUpTo = db
      .prepare<[number], number>('SELECT count(*) FROM (SELECT 1 FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT ?)')
      .pluck();
    this.oldestPending = db.prepare<[], number>('SELECT ts FROM predictions WHERE sent_at IS NULL ORDER BY seq LIMIT 1').pluck();
    this.countAll = db.prepare<[], number>('SELECT count(*) FROM predictions').pluck();
    this.pruneBefore = db.prepare('DELETE FROM predictions WHERE sent_at IS NOT NULL AND sent_at < ?');
    const markAll = db.transaction((ranges: ReadonlyArray<readonly [number, number]>, at: number) => {
      let changed = 0;
      for (const [first, last] of ranges) changed += this.markRange.run(at, first, last).changes;
      return changed;
    });
    const relaxed = db.prepare('PRAGMA synchronous = NORMAL');
    const strict = db.prepare('PRAGMA synchronous = FULL');
    this.markMany = (ranges, at) => {
      relaxed.run();
      try {
        return markAll(ranges, at);
      } finally {
        strict.run();
      }
    };
    this.appendAll = db.transaction((records: readonly NewPrediction[]) =>
      records.map((r) => {
        const payload = serialize(r);
        this.meanBytes += (payload.length - this.meanBytes) / 64;
        const info = this.insert.run(r.ts, r.source, r.model, r.modelVersion, r.label, r.score, payload, this.keepOf(r));
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

  /**
   * Unsent rows with `after < seq <= upTo`, oldest first, within `maxCount` and `maxBytes`
   * (the first row always, as in `nextBatch`); undefined when there are none.
   */
  encodedAfter(after: number, upTo: number, maxCount: number, maxBytes: number): EncodedRows | undefined {
    let records = '';
    let count = 0;
    let first = 0;
    let last = 0;
    let bytes = 0;
    let full = false;
    for (const [seq, payload] of this.unsentBetween.all(after, upTo, maxCount)) {
      const size = Buffer.byteLength(payload) + 16;
      if (count > 0 && bytes + size > maxBytes) {
        full = true;
        break;
      }
      bytes += size;
      // The stored payload is the record's JSON without seq: put seq first.
      const json = payload.length > 2 ? `{"seq":${seq},${payload.slice(1)}` : `{"seq":${seq}}`;
      records = count === 0 ? json : `${records},${json}`;
      if (count === 0) first = seq;
      last = seq;
      count++;
    }
    return count === 0 ? undefined : { first, last, count, records, full: full || count === maxCount };
  }

  /**
   * Up to `batches` consecutive batches as `encodedAfter` makes them, each within `maxCount`
   * and `maxBytes`, together at most `total` rows: a drain reads several at one go.
   */
  encodedRuns(after: number, upTo: number, total: number, maxCount: number, maxBytes: number, batches: number): EncodedRows[] {
    const out: EncodedRows[] = [];
    let left = total;
    while (out.length < batches && left > 0) {
      const rows = this.encodedAfter(after, upTo, Math.min(maxCount, left), maxBytes);
      if (!rows) break;
      out.push(rows);
      left -= rows.count;
      after = rows.last;
    }
    return out;
  }

  /** The store's file and busy timeout, for another connection to it; undefined in memory. */
  location(): { path: string; busyTimeoutMs: number } | undefined {
    const path = this.db.name;
    if (!path || path === ':memory:' || this.db.memory) return undefined;
    return { path, busyTimeoutMs: Number(this.db.pragma('busy_timeout', { simple: true })) };
  }

  /** Moving mean of a stored record's size, for estimating what a write will take. */
  get recordBytesEstimate(): number {
    return this.meanBytes;
  }

  /** The highest sequence number ever given out (0 for a new store). */
  lastSeq(): number {
    return this.maxSeq.get() ?? 0;
  }

  /**
   * Records acks for several ranges in one transaction. Not fsynced on its own (the next
   * prediction commit or checkpoint carries it): losing it to a power cut only resends
   * rows, which central drops as duplicates, while an fsync per ack would cap the drain.
   */
  markSentRanges(ranges: ReadonlyArray<readonly [number, number]>, at: number): number {
    return this.markMany(ranges, at);
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

  private keepOf(record: NewPrediction): number {
    return keepClass(record, this.flagBelow);
  }

  /** Deletes rows acknowledged before `sentBefore`; unsent rows are never touched. */
  pruneSent(sentBefore: number): number {
    return this.pruneBefore.run(sentBefore).changes;
  }
}

/** How long a record is kept when the quota forces eviction; see EVICTION_ORDER. */
function keepClass(record: NewPrediction, flagBelow: number): number {
  if ((record as { explanation?: unknown }).explanation != null) return KEEP_EXPLAINED;
  if (record.score < flagBelow) return KEEP_FLAGGED;
  return KEEP_PLAIN;
}

/** The record without any `seq` a caller may have left on it: the outbox alone assigns them. */
function serialize(record: NewPrediction): string {
  // Copy only when a caller left a seq on it: the hot path's records have none.
  return JSON.stringify('seq' in record ? { ...record, seq: undefined } : record);
}

function recordBytes(row: OutboxRow): number {
  // Serializing adds exactly `,"seq":N` to the stored payload.
  return Buffer.byteLength(row.payload) + `"seq":${row.seq},`.length;
}
