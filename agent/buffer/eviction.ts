import type { Statement } from 'better-sqlite3';
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
  private readonly steps: Record<EvictionClass, Statement<[number], { id: number }>>;

  constructor(db: SqliteDatabase) {
    const predictions = (where: string) =>
      db.prepare<[number], { id: number }>(`DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions WHERE ${where} ORDER BY seq LIMIT ?) RETURNING seq AS id`);
    const events = (where: string) => db.prepare<[number], { id: number }>(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ${where} ORDER BY id LIMIT ?) RETURNING id`);
    this.steps = {
      sent: predictions('sent_at IS NOT NULL'),
      plain: predictions(`sent_at IS NULL AND keep = ${KEEP_PLAIN}`),
      events: events(`NOT ${ALARM}`),
      flagged: predictions(`sent_at IS NULL AND keep = ${KEEP_FLAGGED}`),
      explained: predictions(`sent_at IS NULL AND keep >= ${KEEP_EXPLAINED}`),
      alarms: events(ALARM),
    };
  }

  /** Removes up to `limit` rows of `cls`, oldest first; undefined when the class is empty. */
  evict(cls: EvictionClass, limit: number): Evicted | undefined {
    const ids = this.steps[cls].all(limit);
    if (ids.length === 0) return undefined;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const { id } of ids) {
      if (id < first) first = id;
      if (id > last) last = id;
    }
    return { count: ids.length, first, last };
  }
}
