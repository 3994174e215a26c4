import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { EventSink } from '../events.js';
import { errorMessage } from '../errors.js';
import type { SqliteDatabase } from './database.js';
import { EVICTION_ORDER, type EvictionClass, Evictor } from './eviction.js';

/** Rows removed per DELETE: small steps, so eviction stops close to the low-water mark. */
const CHUNK = 128;
/** Eviction frees down to this share of the quota, so the next writes do not evict again at once. */
const LOW_WATER = 0.9;
/** Below this share of the quota (by an upper-bound estimate) writes skip counting pages. */
const FAR_BELOW = 0.8;

export interface StoreQuotaOptions {
  db: SqliteDatabase;
  /** The budget of the whole SQLite file (config `buffer.quota.storeBytes`). */
  quotaBytes: number;
  events: EventSink;
  log: Logger;
}

/** What eviction has removed since start, by class; the metrics read it. */
export type EvictionCounts = Record<EvictionClass, number>;

/**
 * Keeps the store inside its byte budget. Before each write it compares the pages in use
 * with the budget and, when the write would not fit, evicts in EVICTION_ORDER until the
 * store is back under the low-water mark. `max_page_count` backs it up: a write that still
 * does not fit fails with SQLITE_FULL instead of growing the file past the budget.
 */
export class StoreQuota {
  readonly evicted: EvictionCounts = { sent: 0, plain: 0, events: 0, flagged: 0, explained: 0, alarms: 0 };
  private readonly evictor: Evictor;
  private readonly pageSize: number;
  private readonly log: Logger;
  private readonly pages: Statement<[], number>;
  private readonly freePages: Statement<[], number>;
  /** An upper bound of the bytes in use, grown by every write's estimate; -1 when unknown. */
  private estimate = -1;

  constructor(private readonly opts: StoreQuotaOptions) {
    this.log = opts.log.child({ component: 'quota' });
    this.evictor = new Evictor(opts.db);
    this.pageSize = opts.db.pragma('page_size', { simple: true }) as number;
    const maxPages = Math.max(16, Math.floor(opts.quotaBytes / this.pageSize));
    opts.db.pragma(`max_page_count = ${maxPages}`);
    // Prepared once: this runs before every write.
    this.pages = opts.db.prepare<[], number>('PRAGMA page_count').pluck();
    this.freePages = opts.db.prepare<[], number>('PRAGMA freelist_count').pluck();
  }

  get quotaBytes(): number {
    return this.opts.quotaBytes;
  }

  /** Bytes of pages holding data (the file minus its free list). */
  usedBytes(): number {
    return ((this.pages.get() ?? 0) - (this.freePages.get() ?? 0)) * this.pageSize;
  }

  /** Makes room for about `incomingBytes`; false when even evicting everything allowed did not. */
  makeRoom(incomingBytes: number): boolean {
    // Rows cost more than their payload: row header, index entry, page slack.
    const need = incomingBytes * 1.5 + 4 * this.pageSize;
    // Far below the budget an upper bound is enough; the pages are counted only near it.
    if (this.estimate >= 0 && this.estimate + need <= this.opts.quotaBytes * FAR_BELOW) {
      this.estimate += need;
      return true;
    }
    const used = this.usedBytes();
    this.estimate = used + need;
    if (used + need <= this.opts.quotaBytes) return true;
    this.estimate = -1;
    return this.evictTo(this.opts.quotaBytes * LOW_WATER - need);
  }

  /** After SQLITE_FULL: frees a larger share at once, since the estimate fell short. */
  makeRoomAfterFull(): boolean {
    this.estimate = -1;
    return this.evictTo(this.opts.quotaBytes * 0.75);
  }

  private evictTo(targetBytes: number): boolean {
    for (const cls of EVICTION_ORDER) {
      let total: { count: number; first: number; last: number } | undefined;
      while (this.usedBytes() > targetBytes) {
        let evicted;
        try {
          evicted = this.evictor.evict(cls, CHUNK);
        } catch (err) {
          this.log.error({ err }, `eviction of ${cls} failed: ${errorMessage(err)}`);
          return false;
        }
        if (!evicted) break;
        this.evicted[cls] += evicted.count;
        total = total ? { count: total.count + evicted.count, first: Math.min(total.first, evicted.first), last: Math.max(total.last, evicted.last) } : evicted;
      }
      // One report per class and pass, written after the loop: the report is itself an event.
      if (total && cls !== 'sent') this.report(cls, total.count, total.first, total.last);
      if (this.usedBytes() <= targetBytes) return true;
    }
    return this.usedBytes() <= targetBytes;
  }

  private report(cls: EvictionClass, count: number, first: number, last: number): void {
    const what = cls === 'events' || cls === 'alarms' ? `${cls} (ids ${first}..${last})` : `unsent ${cls} predictions (seq ${first}..${last})`;
    const message = `evicted ${count} ${what} to stay within the store quota of ${Math.round(this.opts.quotaBytes / 1048576)} MiB`;
    this.log.warn({ class: cls, count, first, last }, message);
    this.opts.events.record({ level: 'warn', kind: 'store_evicted', source: 'store', message, detail: { class: cls, count, first, last, quotaBytes: this.opts.quotaBytes } });
  }
}
