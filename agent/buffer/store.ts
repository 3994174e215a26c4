import type { Logger } from 'pino';
import type { z } from 'zod';
import { type Clock, systemClock } from '../clock.js';
import type { BufferSchema } from '../config/schema.js';
import type { Component } from '../lifecycle/component.js';
import type { SqliteDatabase } from './database.js';
import { Checkpointer } from './checkpointer.js';
import { EventLog } from './events.js';
import { openCheckedDatabase, type Quarantine } from './integrity.js';
import { Outbox } from './outbox.js';
import { StoreQuota } from './quota.js';
import { SampleStore } from './samples.js';

export type BufferConfig = z.infer<typeof BufferSchema>;

export interface StoreOptions {
  /** `quota` and `checkpointS` are optional so tools and tests can open a store without budgets. */
  config: Pick<BufferConfig, 'path' | 'busyTimeoutMs'> & Partial<Pick<BufferConfig, 'quota' | 'checkpointS'>>;
  log: Logger;
  clock?: Clock;
  /** Predictions scoring below this are flagged, and kept longer under the quota. */
  flagBelowScore?: number;
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
  readonly quota: StoreQuota | undefined;
  readonly samples: SampleStore | undefined;
  /** Set when the file failed its check at open and was moved aside. */
  readonly quarantined: Quarantine | undefined;
  private readonly db: SqliteDatabase;
  private readonly log: Logger;
  private checkpoints: NodeJS.Timeout | undefined;
  private checkpointer: Checkpointer | undefined;
  private closed = false;

  constructor(private readonly opts: StoreOptions) {
    this.log = opts.log.child({ component: this.name });
    const clock = opts.clock ?? systemClock;
    const opened = openCheckedDatabase({ path: opts.config.path, busyTimeoutMs: opts.config.busyTimeoutMs }, () => clock.now());
    this.db = opened.db;
    this.quarantined = opened.quarantined;
    this.outbox = new Outbox(this.db, opts.flagBelowScore === undefined ? {} : { flagBelowScore: opts.flagBelowScore });
    this.events = new EventLog({ db: this.db, log: opts.log, clock });
    const quota = opts.config.quota;
    if (quota) {
      this.quota = new StoreQuota({ db: this.db, quotaBytes: quota.storeBytes, events: this.events, log: this.log });
      this.samples = new SampleStore({ db: this.db, quotaBytes: quota.samplesBytes, events: this.events, log: this.log, clock });
    }
    if (this.quarantined) {
      const { movedTo, reason } = this.quarantined;
      this.log.error({ movedTo, reason }, 'the store failed its integrity check; it was moved aside and a new one created');
      this.events.record({ level: 'error', kind: 'store_quarantined', source: this.name, message: `the store at ${opts.config.path} was damaged (${reason}); moved to ${movedTo}, a new store was created`, detail: { movedTo, reason } });
    }
  }

  /** The open connection, for components that keep their own tables in the same file. */
  get database(): SqliteDatabase {
    return this.db;
  }

  async start(_signal: AbortSignal): Promise<void> {
    this.log.info({ path: this.db.name, pending: this.outbox.pendingCount(), quotaBytes: this.quota?.quotaBytes }, 'store open');
    const every = this.opts.config.checkpointS;
    if (every && !this.checkpoints) {
      // A timer, so monotonic: a wall-clock step neither stalls nor bunches checkpoints.
      this.checkpoints = setInterval(() => this.checkpoint('PASSIVE'), every * 1000);
      this.checkpoints.unref();
      // The WAL is folded back on a thread, not inside the commit that crosses the threshold.
      if (!this.db.memory) this.checkpointer ??= new Checkpointer({ db: this.db, busyTimeoutMs: this.opts.config.busyTimeoutMs, log: this.log });
    }
  }

  /** Folds the WAL back into the file; TRUNCATE also shrinks the WAL file to zero. */
  checkpoint(mode: 'PASSIVE' | 'TRUNCATE'): void {
    if (this.closed) return;
    try {
      this.db.pragma(`wal_checkpoint(${mode})`);
    } catch (err) {
      this.log.warn({ err }, 'WAL checkpoint failed; the next one or the next open replays it');
    }
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.checkpoints);
    await this.checkpointer?.close();
    // Folding the WAL back keeps the next start fast and the file self-contained for copying.
    this.checkpoint('TRUNCATE');
    this.closed = true;
    this.db.close();
  }
}
