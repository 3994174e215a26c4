import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import type { SqliteDatabase } from './database.js';

/** A captured input (an image or a feature window) kept for central to retrain or audit with. */
export interface NewSample {
  source: string;
  frameId: string;
  /** The prediction it belongs to, once committed. */
  seq?: number;
  mediaType: string;
  data: Buffer;
  /** Why it was captured: `low-confidence`, `drift-alarm`, `shadow-disagreement`, `operator`, ... */
  reason?: string;
}

export interface SampleStoreOptions {
  db: SqliteDatabase;
  /** Budget of all captured samples together (config `buffer.quota.samplesBytes`). */
  quotaBytes: number;
  events: EventSink;
  log: Logger;
  clock: Clock;
}

/**
 * Captured samples, with their own byte budget inside the store: before a sample is added,
 * the oldest samples (already sent ones first) are evicted until it fits, and each
 * eviction is counted and recorded. A sample larger than the whole budget is refused.
 *
 * A sample is written right after its prediction's commit, on the event loop, while the
 * next frames are in flight; a camera frame is about a megabyte, and an fsync of its own
 * stalled the live frames for up to 20 ms. So a sample's transaction is not synced by
 * itself: WAL keeps it in order behind the commits before it, and the next prediction
 * commit's fsync (one linger later at most) makes it durable with that commit. A power
 * cut in between can lose the newest sample, never a prediction.
 */
export class SampleStore {
  evicted = 0;
  private readonly insert: Statement<[number, string, string, number | null, string, number, Buffer, string | null]>;
  private readonly total: Statement<[], number>;
  private readonly oldest: Statement<[], { id: number; bytes: number }>;
  private readonly remove: Statement<[number]>;
  private readonly store: (sample: NewSample, size: number) => { id: number; freed: number };
  /** Bytes held, read once and kept up to date by this store (the only writer of the table). */
  private used: number | undefined;

  constructor(private readonly opts: SampleStoreOptions) {
    const { db } = opts;
    this.insert = db.prepare('INSERT INTO samples (ts, source, frame_id, seq, media_type, bytes, data, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.total = db.prepare<[], number>('SELECT coalesce(sum(bytes), 0) FROM samples').pluck();
    this.oldest = db.prepare('SELECT id, bytes FROM samples ORDER BY sent_at IS NULL, id LIMIT 1');
    this.remove = db.prepare('DELETE FROM samples WHERE id = ?');
    const relaxed = db.prepare('PRAGMA synchronous = NORMAL');
    const strict = db.prepare('PRAGMA synchronous = FULL');
    const evictAndInsert = db.transaction((sample: NewSample, size: number) => {
      let used = this.usedBytes();
      let freed = 0;
      while (used + size > opts.quotaBytes) {
        const row = this.oldest.get();
        if (!row) break;
        this.remove.run(row.id);
        used -= row.bytes;
        freed++;
      }
      const info = this.insert.run(opts.clock.now(), sample.source, sample.frameId, sample.seq ?? null, sample.mediaType, size, sample.data, sample.reason ?? null);
      return { id: Number(info.lastInsertRowid), freed, used: used + size };
    });
    this.store = (sample, size) => {
      // Inside a caller's transaction the safety level cannot change; its commit carries the sample.
      const relax = !db.inTransaction;
      if (relax) relaxed.run();
      try {
        const done = evictAndInsert(sample, size);
        this.used = done.used;
        return done;
      } catch (err) {
        this.used = undefined;
        throw err;
      } finally {
        if (relax) strict.run();
      }
    };
  }

  /** Captured samples central has not acknowledged yet, oldest first. */
  unsent(limit: number): Array<{ id: number; ts: number; source: string; frameId: string; seq: number | null; mediaType: string; data: Buffer; reason: string | null }> {
    const rows = this.opts.db.prepare('SELECT id, ts, source, frame_id, seq, media_type, data, reason FROM samples WHERE sent_at IS NULL ORDER BY id LIMIT ?').all(limit) as Array<{ id: number; ts: number; source: string; frame_id: string; seq: number | null; media_type: string; data: Buffer; reason: string | null }>;
    return rows.map((r) => ({ id: r.id, ts: r.ts, source: r.source, frameId: r.frame_id, seq: r.seq, mediaType: r.media_type, data: r.data, reason: r.reason }));
  }

  markSent(id: number, at: number): void {
    this.opts.db.prepare('UPDATE samples SET sent_at = ? WHERE id = ?').run(at, id);
  }

  /** Bytes of sample data held. */
  usedBytes(): number {
    this.used ??= this.total.get() ?? 0;
    return this.used;
  }

  /**
   * `add` on the event loop's next turn: called when a prediction's commit resolves, it lets
   * that commit's other listeners (the frame being settled) go first, so the write of a
   * megabyte-sized frame is not part of the prediction's commit.
   */
  addSoon(sample: NewSample): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(this.add(sample));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Stores `sample`, evicting older ones to fit; returns its id, or undefined when it can never fit. */
  add(sample: NewSample): number | undefined {
    const size = sample.data.length;
    if (size > this.opts.quotaBytes) {
      this.opts.events.record({ level: 'warn', kind: 'sample_refused', source: sample.source, message: `sample of ${size} bytes exceeds the samples quota of ${this.opts.quotaBytes} bytes`, detail: { frameId: sample.frameId, bytes: size } });
      return undefined;
    }
    const { id, freed } = this.store(sample, size);
    if (freed > 0) {
      this.evicted += freed;
      this.opts.events.record({ level: 'warn', kind: 'store_evicted', source: 'store', message: `evicted ${freed} captured samples to stay within the samples quota`, detail: { class: 'samples', count: freed, quotaBytes: this.opts.quotaBytes } });
    }
    return id;
  }
}
