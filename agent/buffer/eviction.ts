import type { Statement } from 'better-sqlite3';
import { AckedRuns } from './acked-runs.js';
import type { SqliteDatabase } from './database.js';

/** A prediction's eviction class, stored in `predictions.keep`: higher is kept longer. */
export const KEEP_PLAIN = 0;
export const KEEP_FLAGGED = 1;
export const KEEP_EXPLAINED = 2;

/** What one step of eviction removes. */
export type EvictionClass = 'sent' | 'plain' | 'events' | 'flagged' | 'explained' | 'alarms';

/**
 * The order space is taken back in, first to last; within a class, oldest first.
 * Predictions central already acknowledged go first (nothing is lost); alarms go last.
 */
export const EVICTION_ORDER: readonly EvictionClass[] = ['sent', 'plain', 'events', 'flagged', 'explained', 'alarms'];

/** An alarm is an error event or a kind that says so; alarms are what an operator must see. */
const ALARM = "(level = 'error' OR kind LIKE '%alarm%')";

/** One chunk removed: how many rows and the id range (seq for predictions, id for events). */
export interface Evicted {
  count: number;
  first: number;
  last: number;
}

/** Prepared DELETEs, one per class, each removing at most `limit` of the oldest rows. */
export class Evictor {
  private readonly events: Record<'events' | 'alarms', Statement<[number], { id: number }>>;
  private readonly predictionsIn: Statement<[number, number, number, number, number], { id: number }>;
  private readonly acked: AckedRuns;

  constructor(db: SqliteDatabase) {
    const events = (where: string) => db.prepare<[number], { id: number }>(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ${where} ORDER BY id LIMIT ?) RETURNING id`);
    this.events = { events: events(`NOT ${ALARM}`), alarms: events(ALARM) };
    this.predictionsIn = db.prepare<[number, number, number, number, number], { id: number }>(
      'DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions WHERE seq BETWEEN ? AND ? AND keep BETWEEN ? AND ? ORDER BY seq LIMIT ?) RETURNING seq AS id',
    );
    this.acked = new AckedRuns(db);
  }

  /** Removes up to `limit` rows of `cls`, oldest first; undefined when the class is empty. */
  evict(cls: EvictionClass, limit: number): Evicted | undefined {
    let ids: Array<{ id: number }>;
    if (cls === 'events' || cls === 'alarms') ids = this.events[cls].all(limit);
    else if (cls === 'sent') ids = this.evictSent(limit);
    else ids = this.evictUnsent(KEEP_RANGE[cls], limit);
    if (ids.length === 0) return undefined;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const { id } of ids) {
      if (id < first) first = id;
      if (id > last) last = id;
    }
    return { count: ids.length, first, last };
  }

  /** Acknowledged rows, oldest run first; a run left without rows is forgotten. */
  private evictSent(limit: number): Array<{ id: number }> {
    const out: Array<{ id: number }> = [];
    for (let run = this.acked.oldestRun(); run && out.length < limit; run = this.acked.oldestRun()) {
      const want = limit - out.length;
      const ids = this.predictionsIn.all(run[0], run[1], KEEP_PLAIN, KEEP_MAX, want);
      out.push(...ids);
      if (ids.length === want) break;
      this.acked.dropRun(run[0]);
    }
    return out;
  }

  /** Unsent rows of one class, oldest first, span by span between the acknowledged runs. */
  private evictUnsent([low, high]: readonly [number, number], limit: number): Array<{ id: number }> {
    const out: Array<{ id: number }> = [];
    for (const [first, last] of this.acked.unsentSpans(0, Number.MAX_SAFE_INTEGER)) {
      out.push(...this.predictionsIn.all(first, last, low, high, limit - out.length));
      if (out.length >= limit) break;
    }
    return out;
  }
}

/** Highest `keep` value; explained rows are KEEP_EXPLAINED and up. */
const KEEP_MAX = 1 << 30;

/** The `keep` values each unsent class holds. */
const KEEP_RANGE: Record<'plain' | 'flagged' | 'explained', readonly [number, number]> = {
  plain: [KEEP_PLAIN, KEEP_PLAIN],
  flagged: [KEEP_FLAGGED, KEEP_FLAGGED],
  explained: [KEEP_EXPLAINED, KEEP_MAX],
};
