import type { Logger } from 'pino';
import { type Clock, systemClock } from '../clock.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Component } from '../lifecycle/component.js';
import type { NewPrediction, Outbox } from './outbox.js';

/** What one committed transaction added to the outbox. */
export interface OutboxCommit {
  first: number;
  last: number;
  count: number;
}

export interface OutboxWriterOptions {
  outbox: Outbox;
  events: EventSink;
  log: Logger;
  /** Records per transaction (config `buffer.batchSize`). */
  batchSize: number;
  /** Shortest time between two commits (config `buffer.lingerMs`), so at most one fsync per linger. */
  lingerMs: number;
  clock?: Clock;
  /** Called after every commit, e.g. to wake the sync; its errors are logged, never thrown. */
  onCommit?: (commit: OutboxCommit) => void;
  /** The store's byte budget, consulted before every transaction. */
  quota?: WriteQuota;
}

/** What the writer needs of StoreQuota. */
export interface WriteQuota {
  makeRoom(incomingBytes: number): boolean;
  makeRoomAfterFull(): boolean;
}

interface Pending {
  record: NewPrediction;
  resolve: (seq: number) => void;
  reject: (err: AgentError) => void;
}

/**
 * The hot path's door into the outbox. One fsync per prediction would cap a gateway at a
 * few hundred predictions a second, so records are grouped into one transaction per
 * `batchSize`, and at most one commit per `lingerMs`: a record arriving when the last commit is
 * older than that is committed at once (low latency when the line is quiet), later ones
 * gather until the linger since the last commit has passed (few fsyncs when it is busy).
 * Each caller learns its seq only once it is durable.
 */
export class OutboxWriter implements Component {
  readonly name = 'outbox-writer';
  private readonly log: Logger;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  private readonly clock: Clock;
  private stopped = false;
  /** Set while writes fail for lack of space; cleared (and reported) by the next commit. */
  private full: string | undefined;

  constructor(private readonly opts: OutboxWriterOptions) {
    this.log = opts.log.child({ component: this.name });
    this.clock = opts.clock ?? systemClock;
  }

  /** Records waiting for their transaction. */
  get queued(): number {
    return this.queue.length;
  }

  async start(_signal: AbortSignal): Promise<void> {
    // Nothing to open: the store is opened by its owner; accepting records needs no setup.
  }

  /** Queues a prediction; resolves with its sequence number once its transaction committed. */
  add(record: NewPrediction): Promise<number> {
    if (this.stopped) {
      return Promise.reject(new AgentError('E_STORE_CLOSED', 'the outbox writer is stopped; prediction not stored'));
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (this.queue.length >= this.opts.batchSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastCommitAt + this.opts.lingerMs - this.clock.monotonic()));
    });
  }

  /** Commits everything queued now, in transactions of at most `batchSize`. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length > 0) this.lastCommitAt = this.clock.monotonic();
    while (this.queue.length > 0) this.commit(this.queue.splice(0, this.opts.batchSize));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.flush();
  }

  private commit(batch: Pending[]): void {
    let seqs: number[];
    const records = batch.map((p) => p.record);
    try {
      this.opts.quota?.makeRoom(records.length * this.opts.outbox.recordBytesEstimate);
      seqs = this.opts.outbox.append(records);
    } catch (err) {
      // SQLITE_FULL: the quota's page cap or the filesystem. Evict harder once and retry;
      // if the disk itself is full that frees pages inside the file, which SQLite reuses.
      if (!isFull(err) || !this.opts.quota?.makeRoomAfterFull()) return this.fail(batch, err);
      try {
        seqs = this.opts.outbox.append(records);
      } catch (again) {
        return this.fail(batch, again);
      }
    }
    if (this.full !== undefined) this.recovered();
    batch.forEach((p, i) => p.resolve(seqs[i] ?? 0));
    const first = seqs[0];
    const last = seqs.at(-1);
    if (first === undefined || last === undefined || !this.opts.onCommit) return;
    try {
      this.opts.onCommit({ first, last, count: seqs.length });
    } catch (err) {
      this.log.error({ err }, 'onCommit listener failed');
    }
  }

  private fail(batch: Pending[], err: unknown): void {
    const code = (err as { code?: unknown }).code;
    const message = `could not store ${batch.length} predictions: ${errorMessage(err)}`;
    this.log.error({ err, count: batch.length }, message);
    this.opts.events.record({
      level: 'error',
      kind: 'store_write_failed',
      source: this.name,
      message,
      detail: { count: batch.length, sqliteCode: typeof code === 'string' ? code : undefined },
    });
    // Retryable: SQLITE_FULL and I/O errors go away when space or the disk comes back.
    const error = new AgentError('E_STORE_WRITE', message, { retryable: true, cause: err });
    if (isFull(err) && this.full === undefined) {
      // Raised once per episode; the agent keeps running and retries with every new frame.
      this.full = message;
      this.opts.events.record({ level: 'error', kind: 'store_full_alarm', source: this.name, message: `the store is full: ${errorMessage(err)}; new predictions are not stored until space returns`, detail: { sqliteCode: typeof code === 'string' ? code : undefined } });
    }
    for (const p of batch) p.reject(error);
  }

  private recovered(): void {
    this.log.info('the store accepts writes again');
    this.opts.events.record({ level: 'info', kind: 'store_recovered', source: this.name, message: `the store accepts writes again after: ${this.full ?? ''}` });
    this.full = undefined;
  }

  /** Whether writes are failing for lack of space right now. */
  get storeFull(): boolean {
    return this.full !== undefined;
  }
}

/** SQLITE_FULL, or the filesystem's ENOSPC surfacing through SQLite. */
function isFull(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || (typeof code === 'string' && code.startsWith('SQLITE_IOERR') && /space|full/i.test(errorMessage(err))) || /database or disk is full/i.test(errorMessage(err));
}
