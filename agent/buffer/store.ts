import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { BufferSchema } from '../config/schema.js';
import type { Component } from '../lifecycle/component.js';
import { openDatabase, type SqliteDatabase } from './database.js';
import { EventLog } from './events.js';
import { Outbox } from './outbox.js';

export type BufferConfig = z.infer<typeof BufferSchema>;

export interface StoreOptions {
  config: Pick<BufferConfig, 'path' | 'busyTimeoutMs'>;
  log: Logger;
  clock?: Clock;
}

/**
 * Owns the agent's SQLite file. It opens in the constructor rather than in `start`
 * because the outbox and event log are collaborators other components are built with;
 * `stop` checkpoints the WAL and closes, and must therefore run after every user stopped.
 */
export class Store implements Component {
  readonly name = 'store';
  readonly outbox: Outbox;
  readonly events: EventLog;
  private readonly db: SqliteDatabase;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: StoreOptions) {
    this.log = opts.log.child({ component: this.name });
    this.db = openDatabase({ path: opts.config.path, busyTimeoutMs: opts.config.busyTimeoutMs });
    this.outbox = new Outbox(this.db);
    this.events = new EventLog({ db: this.db, log: opts.log, ...(opts.clock ? { clock: opts.clock } : {}) });
  }

  /** The open connection, for components that keep their own tables in the same file. */
  get database(): SqliteDatabase {
    return this.db;
  }

  async start(_signal: AbortSignal): Promise<void> {
    this.log.info({ path: this.db.name, pending: this.outbox.pendingCount() }, 'store open');
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // Folding the WAL back keeps the next start fast and the file self-contained for copying.
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint failed; the next open replays it');
    }
    this.db.close();
  }
}
