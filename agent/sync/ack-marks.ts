import type { Outbox } from '../buffer/outbox.js';
import type { Clock } from '../clock.js';
import { errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';

/** Acks are written to the outbox at least this often... */
const MARK_EVERY_MS = 20;
/** ...or once this many batches were acknowledged. */
const MARK_MAX_RANGES = 64;

/**
 * Acknowledged batches on their way into the outbox, a few at a time (one transaction per
 * MARK_EVERY_MS): a transaction per batch would cap the drain at the disk's commit rate.
 */
export class AckMarks {
  private readonly spans: Array<[number, number]> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { outbox: Pick<Outbox, 'markSentRanges'>; clock: Clock; events: EventSink }) {}

  /** Batch `first`..`last` was acknowledged. */
  add(first: number, last: number): void {
    this.spans.push([first, last]);
    if (this.spans.length >= MARK_MAX_RANGES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), MARK_EVERY_MS);
  }

  /** Writes the acks gathered so far; before a session's first read, so nothing acked goes twice. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.spans.length === 0) return;
    const spans = this.spans.splice(0);
    try {
      this.o.outbox.markSentRanges(spans, this.o.clock.now());
    } catch (err) {
      // Delivered but not recorded: the rows go again under the same batch ids, central drops them.
      const span = `${spans[0]![0]}..${spans.at(-1)![1]}`;
      this.o.events.record({ level: 'error', kind: 'store_write_failed', source: 'sync', message: `could not mark ${span} sent: ${errorMessage(err)}` });
    }
  }
}
