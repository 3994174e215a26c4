import type { Statement } from 'better-sqlite3';
import type { PredictionRecord } from '../../protocol/predictions.js';
import type { SqliteDatabase } from './database.js';
import { AckedRuns, type SeqSpan } from './acked-runs.js';
import { KEEP_EXPLAINED, KEEP_FLAGGED, KEEP_PLAIN } from './eviction.js';

/** A prediction before the outbox has given it a sequence number. */
export type NewPrediction = Omit<PredictionRecord, 'seq'>;

export interface OutboxOptions {
  /** Predictions whose top score is below this are kept longer under the quota (flagged). */
  flagBelowScore?: number;
}

/**
 * Consecutive unsent rows as wire-ready JSON: `records` is the records' JSON (UTF-8) joined
 * by commas, each with its `seq`, so a batch is built without parsing a single row.
 */
export interface EncodedRows {
  first: number;
  last: number;
  count: number;
  records: Buffer;
  /** Whether the batch reached its count or byte bound (more rows may wait). */
  full: boolean;
}

/**
 * The predictions that must reach central, in commit order. The outbox is the source of
 * truth: a row counts as delivered only once `markSent` records the broker's ack for it.
 */
export class Outbox {
  private readonly insert: Statement<[number, number, string, string, string, string, number, string, number]>;
  private readonly rowsIn: Statement<[number, number, number], [number, string]>;
  private readonly joinedIn: Statement<[number, number, number], [number, number, number, Buffer | null]>;
  private readonly tsOf: Statement<[number], number>;
  private readonly maxSeq: Statement<[], number>;
  private readonly countAll: Statement<[], number>;
  private readonly appendAll: (records: readonly NewPrediction[]) => number[];
  private readonly markMany: (spans: readonly SeqSpan[], at: number) => void;
  private readonly acked: AckedRuns;

  private readonly flagBelow: number;
  private meanBytes = 512;
  /** Moving mean of a read row's bytes: how many rows a byte bound likely holds. */
  private readBytes = 512;

  constructor(private readonly db: SqliteDatabase, opts: OutboxOptions = {}) {
    this.flagBelow = opts.flagBelowScore ?? 0;
    this.acked = new AckedRuns(db);
    this.insert = db.prepare(
      'INSERT INTO predictions (seq, ts, source, model, model_version, label, score, payload, keep) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // Rows joined by SQLite into one buffer: building a batch of 500 in JS string by string
    // cost the drain more than reading the rows did. The inner query's order is the
    // rowid scan's, which the aggregate sees as it comes.
    this.joinedIn = db
      .prepare<[number, number, number], [number, number, number, Buffer | null]>(
        "SELECT count(*), min(seq), max(seq), CAST(group_concat(payload, ',') AS BLOB) FROM (SELECT seq, payload FROM predictions WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?)",
      )
      .raw();
    // Raw rows (arrays, not objects): the drain reads hundreds of thousands of them.
    this.rowsIn = db.prepare<[number, number, number], [number, string]>('SELECT seq, payload FROM predictions WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?').raw();
    this.tsOf = db.prepare<[number], number>('SELECT ts FROM predictions WHERE seq = ?').pluck();
    this.maxSeq = db.prepare<[], number>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'predictions'), 0)").pluck();
    this.countAll = db.prepare<[], number>('SELECT count(*) FROM predictions').pluck();
    const relaxed = db.prepare('PRAGMA synchronous = NORMAL');
    const strict = db.prepare('PRAGMA synchronous = FULL');
    this.markMany = (spans, at) => {
      relaxed.run();
      try {
        return this.acked.mark(spans, at);
      } finally {
        strict.run();
      }
    };
    // IMMEDIATE: the numbers are read before the first insert, and no other connection (a
    // tool reading the file, a second agent by mistake) may commit in between.
    const appendTx = db.transaction((records: readonly NewPrediction[]) => {
      let seq = this.lastSeq();
      return records.map((r) => {
        seq++;
        const payload = serialize(r, seq);
        this.meanBytes += (payload.length - this.meanBytes) / 64;
        this.insert.run(seq, r.ts, r.source, r.model, r.modelVersion, r.label, r.score, payload, this.keepOf(r));
        return seq;
      });
    });
    this.appendAll = (records) => appendTx.immediate(records);
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
    for (const [seq, payload] of this.unsentRows(0, Number.MAX_SAFE_INTEGER, maxCount)) {
      const size = Buffer.byteLength(payload) + 1;
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push({ ...(JSON.parse(payload) as NewPrediction), seq });
    }
    return out;
  }

  /**
   * Unsent rows with `after < seq <= upTo`, oldest first, within `maxCount` and `maxBytes`
   * (the first row always, as in `nextBatch`); undefined when there are none.
   */
  encodedAfter(after: number, upTo: number, maxCount: number, maxBytes: number): EncodedRows | undefined {
    let limit = Math.max(1, Math.min(maxCount, Math.floor(maxBytes / this.readBytes)));
    for (;;) {
      const rows = this.joinedAfter(after, upTo, limit);
      if (!rows) return undefined;
      this.readBytes += (rows.records.length / rows.count - this.readBytes) / 4;
      if (rows.records.length <= maxBytes || rows.count === 1) return { ...rows, full: rows.count === limit };
      // Larger rows than guessed: ask again for as many as the bound holds.
      limit = Math.max(1, Math.floor((rows.count * maxBytes) / rows.records.length) - 1);
    }
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
   * Records acks for several spans in one transaction. Not fsynced on its own (the next
   * prediction commit or checkpoint carries it): losing it to a power cut only resends
   * rows, which central drops as duplicates, while an fsync per ack would cap the drain.
   */
  markSentRanges(ranges: readonly SeqSpan[], at: number): void {
    this.markMany(ranges, at);
  }

  /** Records the broker's ack for the unsent rows in firstSeq..lastSeq; returns how many changed. */
  markSent(firstSeq: number, lastSeq: number, at: number): number {
    return this.acked.mark([[firstSeq, lastSeq]], at, true);
  }

  /** When the broker acknowledged prediction `seq`, to within a minute; undefined while it waits. */
  sentAt(seq: number): number | undefined {
    return this.acked.ackedAt(seq);
  }

  pendingCount(): number {
    return this.acked.countUnsent(0, Number.MAX_SAFE_INTEGER);
  }

  /** Whether at least `n` rows wait; costs O(n), not O(backlog). */
  pendingAtLeast(n: number): boolean {
    return this.acked.countUnsent(0, Number.MAX_SAFE_INTEGER, n) >= n;
  }

  /** Wall time of the oldest unsent prediction, by sequence. */
  oldestPendingTs(): number | undefined {
    const seq = this.acked.firstUnsent();
    return seq === undefined ? undefined : this.tsOf.get(seq);
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
    return this.acked.prune(sentBefore);
  }

  /** Up to `limit` unsent rows after `after` up to `upTo`, joined by commas, span by span. */
  private joinedAfter(after: number, upTo: number, limit: number): Omit<EncodedRows, 'full'> | undefined {
    const parts: Buffer[] = [];
    let count = 0;
    let first = 0;
    let last = 0;
    for (const [from, to] of this.acked.unsentSpans(after, upTo)) {
      const [n, lo, hi, joined] = this.joinedIn.get(from, to, limit - count)!;
      if (n === 0 || !joined) continue;
      if (count === 0) first = lo;
      else parts.push(COMMA);
      parts.push(joined);
      last = hi;
      count += n;
      if (count >= limit) break;
    }
    if (count === 0) return undefined;
    return { first, last, count, records: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  }

  /** Unsent rows after `after` up to `upTo`, oldest first, at most `limit`, span by span. */
  private *unsentRows(after: number, upTo: number, limit: number): Generator<[number, string]> {
    let left = limit;
    for (const [first, last] of this.acked.unsentSpans(after, upTo)) {
      for (const row of this.rowsIn.all(first, last, left)) {
        yield row;
        left--;
      }
      if (left <= 0) return;
    }
  }
}

/** How long a record is kept when the quota forces eviction; see EVICTION_ORDER. */
function keepClass(record: NewPrediction, flagBelow: number): number {
  if ((record as { explanation?: unknown }).explanation != null) return KEEP_EXPLAINED;
  if (record.score < flagBelow) return KEEP_FLAGGED;
  return KEEP_PLAIN;
}

const COMMA = Buffer.from(',');

/**
 * The record's JSON with `seq` first, whatever `seq` a caller left on it (the outbox alone
 * numbers rows): stored so, a batch is the stored rows joined as they are.
 */
function serialize(record: NewPrediction, seq: number): string {
  // Copy only when a caller left a seq on it: the hot path's records have none.
  const json = JSON.stringify('seq' in record ? { ...record, seq: undefined } : record);
  return json.length > 2 ? `{"seq":${seq},${json.slice(1)}` : `{"seq":${seq}}`;
}
