import type { Logger } from 'pino';
import type { EncodedRows, Outbox } from '../buffer/outbox.js';
import type { Clock } from '../clock.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import { Backoff, sleep, whenAborted } from '../lifecycle/backoff.js';
import { AckMarks } from './ack-marks.js';
import type { BrokerSession } from './connection.js';
import { Doorbell } from './doorbell.js';
import { TokenBucket } from './token-bucket.js';
import { UnackedBatches } from './unacked-batches.js';

/** What the sync has delivered since start; the status page reads it. */
export interface SyncStats {
  batchesAcked: number;
  predictionsAcked: number;
  lastAckAt: number | undefined;
  /** Of those, predictions that waited out an outage (the backlog). */
  backlogAcked: number;
}

/** One batch ready for the wire. */
export interface WireMessage {
  topic: string;
  payload: Buffer | string;
  /** A label for logs: the batch id. */
  id: string;
}

export interface DeliveryOptions {
  outbox: Outbox;
  session: { readonly session: BrokerSession | undefined; waitForSession(signal: AbortSignal): Promise<BrokerSession | undefined> };
  /** Builds the message for `rows`; `backlog` is true for rows that waited out an outage. */
  encode: (rows: EncodedRows, backlog: boolean) => WireMessage | Promise<WireMessage>;
  /** Whether sending may happen now (Sparkplug: the primary host is online and the birth went out). */
  ready?: () => boolean;
  maxCount: number;
  /** Backlog batches may be larger: nobody waits on their latency, and fewer messages drain faster. */
  backlogMaxCount: number;
  maxBytes: number;
  lingerMs: number;
  inflight: number;
  backlogRatePerS: number;
  ackTimeoutMs: number;
  reconnect: { minMs: number; maxMs: number };
  events: EventSink;
  log: Logger;
  clock: Clock;
  random?: () => number;
}

type Outcome = 'drained' | 'lost' | 'failed';

/** A backlog batch read, or how long the rate limit says to wait. */
type BacklogRead = { rows: EncodedRows | undefined } | { waitMs: number };


/**
 * Moves the outbox to the broker over whatever session is live. Rows are sent as QoS 1
 * batches, up to `inflight` awaiting their PUBACK at once, and marked sent only by the
 * PUBACK of the batch carrying them. At every new session the rows committed before it are
 * the backlog: rows committed since (live) always go first, and the backlog, oldest first,
 * fills the spare room at no more than `backlogRatePerS`. Each stream is in sequence order;
 * after a loss the unacknowledged rows go again and central drops repeats by (device, seq).
 */
export class Delivery {
  readonly stats: SyncStats = { batchesAcked: 0, predictionsAcked: 0, lastAckAt: undefined, backlogAcked: 0 };
  private readonly doorbell = new Doorbell();
  private readonly halt = new AbortController();
  private readonly drain = new AbortController();
  private readonly retry: Backoff;
  private readonly bucket: TokenBucket;
  private running: Promise<void> | undefined;
  private refusing = false;
  private readonly unacked = new UnackedBatches();
  private readonly marks: AckMarks;
  /** Settles once the previous batch's publish was handed to the client. */
  private order: Promise<void> = Promise.resolve();

  constructor(private readonly opts: DeliveryOptions) {
    this.marks = new AckMarks({ outbox: opts.outbox, clock: opts.clock, events: opts.events });
    this.retry = new Backoff({ ...opts.reconnect, ...(opts.random ? { random: opts.random } : {}) });
    this.bucket = new TokenBucket(opts.backlogRatePerS, Math.max(opts.backlogMaxCount, Math.ceil(opts.backlogRatePerS / 10)), opts.clock);
  }

  /** Rows were committed, or the gate opened: look again. Cheap, never throws. */
  wake(): void {
    this.doorbell.ring();
  }

  run(): void {
    this.running ??= this.loop().catch((err: unknown) => this.opts.log.error({ err }, 'send loop failed'));
  }

  /** Sends what is pending while connected until `deadline` aborts, then stops for good. */
  async finish(deadline: AbortSignal): Promise<void> {
    this.drain.abort();
    this.doorbell.ring();
    if (this.running) await Promise.race([this.running, whenAborted(deadline)]);
    this.halt.abort();
    this.doorbell.ring();
    await this.running;
    this.marks.flush();
  }

  private async loop(): Promise<void> {
    const halt = this.halt.signal;
    const idle = AbortSignal.any([halt, this.drain.signal]);
    while (!halt.aborted) {
      const session = this.drain.signal.aborted ? this.opts.session.session : await this.opts.session.waitForSession(idle);
      if (!session) {
        if (this.drain.signal.aborted) return;
        continue;
      }
      const outcome = await this.serve(session);
      if (outcome === 'drained') return;
      if (outcome === 'failed' && !halt.aborted) await sleep(this.retry.next(), AbortSignal.any([halt, session.closed]));
      if (this.drain.signal.aborted && !this.opts.session.session) return;
    }
  }

  /** One session's worth of sending; returns why it ended. */
  private async serve(session: BrokerSession): Promise<Outcome> {
    const { outbox, maxCount, backlogMaxCount, maxBytes, lingerMs, clock } = this.opts;
    const halt = this.halt.signal;
    const gone = AbortSignal.any([halt, session.closed]);
    this.marks.flush();
    const boundary = outbox.lastSeq();
    let liveCursor = boundary;
    let backlogCursor = 0;
    let backlogDone = boundary === 0;
    let shortSince: number | undefined;
    let failure: unknown;
    const inflight = new Set<Promise<void>>();
    while (session.open && !halt.aborted && failure === undefined) {
      const rung = this.doorbell.count;
      let waitMs: number | undefined;
      while (inflight.size < this.opts.inflight && (this.opts.ready?.() ?? true)) {
        // A queue of live rows goes in batches as large as the backlog's; a short one lingers.
        let rows = outbox.encodedAfter(liveCursor, Number.MAX_SAFE_INTEGER, backlogMaxCount, maxBytes);
        let backlog = false;
        if (rows && rows.count < maxCount && !rows.full && backlogDone && lingerMs > 0 && !this.drain.signal.aborted) {
          // A short live batch waits up to lingerMs for company, so a busy line sends full batches.
          shortSince ??= clock.monotonic();
          const left = shortSince + lingerMs - clock.monotonic();
          if (left > 0) {
            waitMs = left;
            break;
          }
        }
        if (!rows && !backlogDone) {
          const read = this.readBacklog(backlogCursor, boundary);
          if ('waitMs' in read) {
            waitMs = read.waitMs;
            break;
          }
          rows = read.rows;
          if (!rows) backlogDone = true;
          backlog = true;
        }
        if (!rows) break;
        shortSince = undefined;
        if (backlog) backlogCursor = rows.last;
        else liveCursor = rows.last;
        const sending = this.deliver(session, rows, backlog).catch((err: unknown) => {
          failure ??= err;
        });
        inflight.add(sending);
        void sending.finally(() => {
          inflight.delete(sending);
          this.doorbell.ring();
        });
      }
      if (failure !== undefined) break;
      if (inflight.size === 0 && backlogDone && waitMs === undefined && this.drain.signal.aborted && !outbox.encodedAfter(liveCursor, Number.MAX_SAFE_INTEGER, 1, maxBytes)) {
        this.marks.flush();
        return 'drained';
      }
      await this.doorbell.wait(rung, waitMs, gone);
    }
    await Promise.allSettled([...inflight]);
    if (failure !== undefined && session.open && !halt.aborted) {
      this.onFailure(failure);
      return 'failed';
    }
    return 'lost';
  }

  private async deliver(session: BrokerSession, rows: EncodedRows, backlog: boolean): Promise<void> {
    this.unacked.remember(rows.first, rows.last);
    // Encoding (gzip) runs in parallel; publishing happens in the order the batches were
    // taken, so the broker, and central, see each stream in sequence order.
    const encoding = Promise.resolve(this.opts.encode(rows, backlog));
    const turn = this.order.then(() => encoding);
    const acked = turn.then((message) => this.publish(session, message));
    this.order = turn.then(noop, noop);
    await acked;
    this.markSent(rows, backlog);
    this.retry.reset();
    this.refusing = false;
  }

  private publish(session: BrokerSession, message: WireMessage): Promise<void> {
    const { ackTimeoutMs } = this.opts;
    const gone = [this.halt.signal, session.closed];
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        for (const s of gone) s.removeEventListener('abort', onGone);
        if (err) reject(err);
        else resolve();
      };
      const onGone = () => finish(new AgentError('E_BROKER_DISCONNECTED', `connection lost before batch ${message.id} was acknowledged`, { retryable: true }));
      const timer = setTimeout(() => {
        // A connection that swallows acks is as good as dead; a fresh one resends.
        this.opts.log.warn({ batchId: message.id, ackTimeoutMs }, 'no PUBACK in time; reconnecting');
        session.client.end(true);
      }, ackTimeoutMs);
      if (gone.some((s) => s.aborted)) return onGone();
      for (const s of gone) s.addEventListener('abort', onGone, { once: true });
      session.client.publish(message.topic, message.payload, { qos: 1 }, (err) => {
        if (!err) return finish();
        finish(new AgentError('E_BATCH_REFUSED', `broker refused batch ${message.id}: ${errorMessage(err)}`, { retryable: true, cause: err }));
      });
    });
  }

  private markSent(rows: EncodedRows, backlog: boolean): void {
    const at = this.opts.clock.now();
    this.unacked.acknowledged(rows.first);
    this.marks.add(rows.first, rows.last);
    this.stats.batchesAcked++;
    this.stats.predictionsAcked += rows.count;
    if (backlog) this.stats.backlogAcked += rows.count;
    this.stats.lastAckAt = at;
  }

  /** The next backlog batch after `after` within the rate limit, or how long to wait for the limit. */
  private readBacklog(after: number, boundary: number): BacklogRead {
    const { backlogMaxCount, maxBytes } = this.opts;
    const allowed = this.bucket.take(backlogMaxCount);
    if (allowed === 0) return { waitMs: Math.max(1, this.bucket.msUntil(backlogMaxCount)) };
    for (;;) {
      const upTo = this.unacked.cut(after, boundary);
      // A batch sent before goes again whole, under its id: a part of it would be another batch.
      const need = Math.min(this.unacked.resendSpan(after), backlogMaxCount);
      if (need > allowed) {
        this.bucket.giveBack(allowed);
        return { waitMs: Math.max(1, this.bucket.msUntil(need)) };
      }
      const rows = this.opts.outbox.encodedAfter(after, upTo, allowed, maxBytes);
      // Nothing unsent before a remembered batch: skip ahead to it rather than stop.
      if (rows || upTo >= boundary) {
        this.bucket.giveBack(allowed - (rows?.count ?? 0));
        return { rows };
      }
      after = upTo;
    }
  }

  private onFailure(err: unknown): void {
    this.opts.log.warn({ err }, `batch not delivered: ${errorMessage(err)}`);
    if (!(err instanceof AgentError) || err.code !== 'E_BATCH_REFUSED' || this.refusing) return;
    // Once per streak: a broker refusing (ACL, quota) would otherwise fill the audit trail.
    this.refusing = true;
    this.opts.events.record({ level: 'error', kind: 'batch_refused', source: 'sync', message: err.message });
  }
}

function noop(): void {}
