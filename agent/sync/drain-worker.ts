import { Worker } from 'node:worker_threads';
import type { EncodedRows } from '../buffer/outbox.js';
import { AgentError } from '../errors.js';

/** What the drain thread is started with. */
export interface DrainThreadData {
  /** The store's file: the thread opens its own connection to it. */
  path: string;
  busyTimeoutMs: number;
  device: string;
  compression: 'gzip' | 'none';
}

/** A request to the drain thread; answers come back in the order asked. */
export type DrainRequest =
  | { op: 'read'; id: number; after: number; upTo: number; total: number; maxCount: number; maxBytes: number; batches: number; sentAt: number }
  | { op: 'mark'; id: number; ranges: ReadonlyArray<readonly [number, number]>; at: number }
  | { op: 'close' };

/** Backlog rows read off the event loop, with their batch ready for the wire in `wire`. */
export type WiredRows = EncodedRows & { wire: Uint8Array };

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/*
 * The thread's body is a module of the agent (the outbox's own queries, the batch's own
 * encoding); run through tsx, the worker registers tsx itself, since it does not inherit a
 * loader registered through tsx's API.
 */
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((err) => { throw err; });
`;

/**
 * The drain's worker thread, from the main side. Started when a session has a backlog and
 * closed when the backlog is through, so an idle agent carries no extra thread. Requests
 * are answered in order, which keeps acks recorded before the reads that follow them.
 */
export class DrainWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private last: Promise<unknown> = Promise.resolve();
  readonly ready: Promise<void>;

  constructor(data: DrainThreadData) {
    const here = import.meta.url;
    const ts = here.endsWith('.ts');
    const entry = new URL(`./drain-thread.${ts ? 'ts' : 'js'}`, here).href;
    const tsx = ts ? import.meta.resolve('tsx/esm/api') : undefined;
    this.worker = new Worker(BOOT, { eval: true, workerData: { ...data, entry, tsx }, resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 } });
    this.worker.unref();
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.once('message', (m: { ready?: boolean }) => (m.ready ? resolve() : reject(new Error('the drain thread did not start'))));
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`the drain thread exited with code ${code} while starting`)));
    });
    this.ready.then(
      () => this.worker.on('message', (m: { id: number; value?: unknown; error?: string }) => this.answer(m)),
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the drain thread exited with code ${code}`)));
  }

  /** Consecutive batches of unsent rows after `after`, as the outbox's `encodedRuns`, each with its wire payload. */
  read(o: { after: number; upTo: number; total: number; maxCount: number; maxBytes: number; batches: number; sentAt: number }): Promise<WiredRows[]> {
    return this.ask({ op: 'read', id: this.nextId++, ...o }) as Promise<WiredRows[]>;
  }

  /** Records acks for several ranges in one transaction, as the outbox's `markSentRanges`. */
  markSentRanges(ranges: ReadonlyArray<readonly [number, number]>, at: number): Promise<number> {
    return this.ask({ op: 'mark', id: this.nextId++, ranges, at }) as Promise<number>;
  }

  /** Lets the requests already made finish, then ends the thread. Safe twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Answers come in order: once the last request settled, every earlier one did.
      await this.last.catch(() => undefined);
      if (!this.failure) {
        const exited = new Promise((resolve) => this.worker.once('exit', resolve));
        this.worker.postMessage({ op: 'close' } satisfies DrainRequest);
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private ask(request: Exclude<DrainRequest, { op: 'close' }>): Promise<unknown> {
    if (this.closing) return Promise.reject(new AgentError('E_DRAIN_THREAD', 'the drain thread is closing', { retryable: true }));
    const answered = this.ready.then(
      () =>
        new Promise((resolve, reject) => {
          if (this.failure) return reject(this.failure);
          this.pending.set(request.id, { resolve, reject });
          this.worker.postMessage(request);
        }),
    );
    this.last = answered;
    return answered;
  }

  private answer(m: { id: number; value?: unknown; error?: string }): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error !== undefined) p.reject(new AgentError('E_DRAIN_THREAD', `the drain thread failed: ${m.error}`, { retryable: true }));
    else p.resolve(m.value);
  }

  private fail(err: Error): void {
    this.failure ??= new AgentError('E_DRAIN_THREAD', `the drain thread stopped: ${err.message}`, { retryable: true, cause: err });
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
