import type { Logger } from 'pino';
import type { SqliteDatabase } from '../../buffer/database.js';
import { errorMessage } from '../../errors.js';

/**
 * The Sparkplug B birth/death sequence (bdSeq): the NDEATH registered as the will of a
 * CONNECT and the NBIRTH sent on that connection carry the same value, and every CONNECT
 * takes the next one (0–255, wrapping). The value of the last CONNECT is kept in the store's
 * `sync_state` table and written, fsynced, before the CONNECT goes out, so after a restart,
 * clean or kill -9, the node continues from it instead of starting over at 0, and a host
 * never sees a new NBIRTH carry the bdSeq of the death it already recorded.
 */
export class BirthDeathSequence {
  private value: number;
  private readonly save: ((value: number) => void) | undefined;

  constructor(opts: { database?: SqliteDatabase; key: string; log: Logger }) {
    const { database, key, log } = opts;
    let last = -1;
    if (database) {
      const read = database.prepare<[string], number>('SELECT value FROM sync_state WHERE key = ?').pluck();
      const write = database.prepare<[string, number]>('INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
      last = read.get(key) ?? -1;
      this.save = (value) => {
        try {
          write.run(key, value);
        } catch (err) {
          // The connection still works; only a crash before the next good write could repeat a bdSeq.
          log.warn({ err, bdSeq: value }, `could not store the Sparkplug bdSeq: ${errorMessage(err)}`);
        }
      };
    }
    this.value = Number.isInteger(last) && last >= 0 && last <= 255 ? last : -1;
  }

  /** The bdSeq of the CONNECT in progress or live; -1 before the first. */
  get current(): number {
    return this.value;
  }

  /** Takes the bdSeq for a new CONNECT and stores it before returning. */
  next(): number {
    this.value = (this.value + 1) % 256;
    this.save?.(this.value);
    return this.value;
  }
}
