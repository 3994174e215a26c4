import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './database.js';

/**
 * Runs are merged with an adjacent one only while that one's first ack is this recent, so
 * a run's `at` tells when its rows were acknowledged to within this span.
 */
export const MERGE_SPAN_MS = 60_000;

/** A span of sequence numbers, both ends included. */
export type SeqSpan = readonly [first: number, last: number];

type Run = [first: number, last: number, since: number, at: number];

/**
 * Which predictions the broker acknowledged, kept as runs of consecutive sequence numbers
 * (`predictions_acked`) rather than as a mark on every row: a drained batch of 500 rows is
 * one small row here, where marking the rows rewrote every page they sit on and the unsent
 * index beside them. Runs never overlap. A row is unsent when no run covers it.
 *
 * `floor` is a sequence number below which every row is acknowledged or gone. It only ever
 * rises (an acknowledged row stays so, and new rows get higher numbers), so walks start there
 * instead of at the first run ever recorded.
 */
export class AckedRuns {
  private readonly coverOf: Statement<[number], Run>;
  private readonly runsFrom: Statement<[number, number], Run>;
  private readonly lowest: Statement<[], Run>;
  private readonly insertRun: Statement<[number, number, number, number]>;
  private readonly deleteRun: Statement<[number]>;
  private readonly countIn: Statement<[number, number], number>;
  private readonly countUpTo: Statement<[number, number, number], number>;
  private readonly firstIn: Statement<[number, number], number>;
  private readonly maxSeq: Statement<[], number>;
  private readonly expired: Statement<[number], Run>;
  private readonly deleteRows: Statement<[number, number]>;
  private readonly markAll: (spans: readonly SeqSpan[], at: number, count: boolean) => number;
  private floorSeq = 1;

  constructor(db: SqliteDatabase) {
    this.coverOf = db.prepare<[number], Run>('SELECT first, last, since, at FROM predictions_acked WHERE first <= ? ORDER BY first DESC LIMIT 1').raw();
    this.runsFrom = db.prepare<[number, number], Run>('SELECT first, last, since, at FROM predictions_acked WHERE first >= ? AND first <= ? ORDER BY first').raw();
    this.lowest = db.prepare<[], Run>('SELECT first, last, since, at FROM predictions_acked ORDER BY first LIMIT 1').raw();
    this.insertRun = db.prepare('INSERT INTO predictions_acked (first, last, since, at) VALUES (?, ?, ?, ?)');
    this.deleteRun = db.prepare('DELETE FROM predictions_acked WHERE first = ?');
    this.countIn = db.prepare<[number, number], number>('SELECT count(*) FROM predictions WHERE seq BETWEEN ? AND ?').pluck();
    this.countUpTo = db.prepare<[number, number, number], number>('SELECT count(*) FROM (SELECT 1 FROM predictions WHERE seq BETWEEN ? AND ? LIMIT ?)').pluck();
    this.firstIn = db.prepare<[number, number], number>('SELECT seq FROM predictions WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT 1').pluck();
    this.maxSeq = db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM predictions').pluck();
    this.expired = db.prepare<[number], Run>('SELECT first, last, since, at FROM predictions_acked WHERE at < ? ORDER BY first').raw();
    this.deleteRows = db.prepare('DELETE FROM predictions WHERE seq BETWEEN ? AND ?');
    // IMMEDIATE: the merge reads the runs it rewrites, and another connection (the drain
    // thread's) may be recording acks too.
    const tx = db.transaction((spans: readonly SeqSpan[], at: number, count: boolean) => {
      let changed = 0;
      for (const [first, last] of spans) changed += this.markOne(first, last, at, count);
      return changed;
    });
    this.markAll = (spans, at, count) => tx.immediate(spans, at, count);
  }

  /**
   * Records the broker's ack for each span in one transaction. With `count`, returns how
   * many rows became acknowledged (counting them costs more than recording the ack).
   */
  mark(spans: readonly SeqSpan[], at: number, count = false): number {
    return spans.length === 0 ? 0 : this.markAll(spans, at, count);
  }

  /** When the run covering `seq` was acknowledged, or undefined while it is unsent. */
  ackedAt(seq: number): number | undefined {
    const run = this.coverOf.get(seq);
    return run && run[1] >= seq ? run[3] : undefined;
  }

  /**
   * The spans within `after < seq <= upTo` that no run covers, in order. Lazy: a caller that
   * has what it needs stops early. A span may hold no rows (they were evicted).
   */
  *unsentSpans(after: number, upTo: number): Generator<SeqSpan> {
    // A walk from the bottom raises the floor first; one from a later cursor needs not.
    let from = after + 1 > this.floorSeq ? after + 1 : this.floor();
    const cover = this.coverOf.get(from);
    if (cover && cover[1] >= from) from = cover[1] + 1;
    if (from > upTo) return;
    for (const [first, last] of this.runsFrom.all(from, upTo)) {
      if (first > from) yield [from, first - 1];
      from = last + 1;
      if (from > upTo) return;
    }
    yield [from, upTo];
  }

  /** How many unsent rows lie in `after < seq <= upTo`, counting no further than `atMost`. */
  countUnsent(after: number, upTo: number, atMost = Number.POSITIVE_INFINITY): number {
    let n = 0;
    for (const [first, last] of this.unsentSpans(after, upTo)) {
      n += (atMost === Number.POSITIVE_INFINITY ? this.countIn.get(first, last) : this.countUpTo.get(first, last, atMost - n)) ?? 0;
      if (n >= atMost) break;
    }
    return n;
  }

  /** The lowest unsent sequence number, or undefined when every row is acknowledged. */
  firstUnsent(): number | undefined {
    const floor = this.floor();
    return floor <= (this.maxSeq.get() ?? 0) ? floor : undefined;
  }

  /** The oldest run: the acknowledged rows that eviction takes first. */
  oldestRun(): SeqSpan | undefined {
    const run = this.lowest.get();
    return run ? [run[0], run[1]] : undefined;
  }

  /** Forgets a run whose rows are all gone. */
  dropRun(first: number): void {
    this.deleteRun.run(first);
  }

  /** Deletes the rows of every run acknowledged before `before`, and the runs; returns the rows deleted. */
  prune(before: number): number {
    let deleted = 0;
    for (const [first, last] of this.expired.all(before)) {
      deleted += this.deleteRows.run(first, last).changes;
      this.deleteRun.run(first);
    }
    return deleted;
  }

  /**
   * Every row below the returned number is acknowledged or gone. Walks up from the last
   * floor: usually one lookup, since the row there is still the first unsent one.
   */
  private floor(): number {
    // Read before the walk: rows committed during it get higher numbers than this.
    const max = this.maxSeq.get() ?? 0;
    let from = this.floorSeq;
    while (from <= max) {
      const cover = this.coverOf.get(from);
      if (cover && cover[1] >= from) {
        from = cover[1] + 1;
        continue;
      }
      const next = this.runsFrom.get(from, max);
      const gapEnd = next ? next[0] - 1 : max;
      const seq = this.firstIn.get(from, gapEnd);
      if (seq !== undefined) {
        this.floorSeq = seq;
        return seq;
      }
      if (!next) break;
      from = next[1] + 1;
    }
    this.floorSeq = Math.max(this.floorSeq, max + 1);
    return this.floorSeq;
  }

  private markOne(first: number, last: number, at: number, count: boolean): number {
    // A batch acknowledged again (resent after a lost PUBACK) changes nothing, not even `at`.
    const within = this.coverOf.get(first);
    if (within && within[1] >= last) return 0;
    let lo = first;
    let hi = last;
    let since = at;
    let latest = at;
    let covered = 0;
    // Runs that overlap the span or touch it; runs never overlap, so their ends ascend too.
    const left = this.coverOf.get(first - 1);
    const candidates = left && left[1] >= first - 1 ? [left, ...this.runsFrom.all(first, last + 1)] : this.runsFrom.all(first, last + 1);
    for (const run of candidates) {
      const [rf, rl, rs, ra] = run;
      const overlaps = rf <= last && rl >= first;
      if (!overlaps && at - rs >= MERGE_SPAN_MS) continue;
      if (overlaps && count) covered += this.countIn.get(Math.max(rf, first), Math.min(rl, last)) ?? 0;
      lo = Math.min(lo, rf);
      hi = Math.max(hi, rl);
      since = Math.min(since, rs);
      latest = Math.max(latest, ra);
      this.deleteRun.run(rf);
    }
    this.insertRun.run(lo, hi, since, latest);
    return count ? (this.countIn.get(first, last) ?? 0) - covered : 0;
  }
}
