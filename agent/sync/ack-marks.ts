import type { Outbox } from '../buffer/outbox.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import type { DrainWorker } from './drain-worker.js';

/** Acks are written to the outbox at least this often... */
const MARK_EVERY_MS = 20;
/** ...or once this many batches were acknowledged. */
const MARK_MAX_RANGES = 64;

/**
 * Acknowledged batches on their way into the outbox, a few at a time (one transaction per
 * MARK_EVERY_MS): a transaction per batch would cap the drain at the disk's commit rate.
 * Batches the drain thread read are recorded through it, the others on the event loop.
 */
export class AckMarks {
  private readonly here: Array<[number, number]> = [];
  private readonly viaThread: Array<[number, number]> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { outbox: Pick<Outbox, 'markSentRanges'>; clock: Clock; events: EventSink; thread: () => DrainWorker | undefined }) {}

  /** Batch `first`..`last` was acknowledged; `throughThread` when the drain thread read it. */
  add(first: number, last: number, throughThread: boolean): void {
    const marks = throughThread ? this.viaThread : this.here;
    marks.push([first, last]);
    if (marks.length >= MARK_MAX_RANGES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), MARK_EVERY_MS);
  }

  /** Writes the acks gathered so far; before a session's first read, so nothing acked goes twice. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.viaThread.length > 0) {
      const ranges = this.viaThread.splice(0);
      const thread = this.o.thread();
      // The thread answers in order, so these are recorded before any read asked after them.
      if (thread) void thread.markSentRanges(ranges, this.o.clock.now()).catch(() => this.markHere(ranges));
      else this.markHere(ranges);
    }
    if (this.here.length > 0) this.markHere(this.here.splice(0));
  }

  private markHere(ranges: ReadonlyArray<readonly [number, number]>): void {
    try {
      this.o.outbox.markSentRanges(ranges, this.o.clock.now());
    } catch (err) {
      // Delivered but not recorded: the rows go again under the same batch ids, central drops them.
      const span = `${ranges[0]![0]}..${ranges.at(-1)![1]}`;
      this.o.events.record({ level: 'error', kind: 'store_write_failed', source: 'sync', message: `could not mark ${span} sent: ${errorMessage(err)}` });
    }
  }
}
