import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import { TokenBucket } from './token-bucket.js';

export interface InboundGuardOptions {
  maxBytes: number;
  ratePerS: number;
  burst: number;
  clock: Clock;
  events: EventSink;
  log: Logger;
}

/** How often, at most, one filter's refusals become an audit event. */
const REPORT_EVERY_MS = 10_000;

/** Refusals of one subscription since its last report. */
interface Tally {
  bucket: TokenBucket;
  oversize: number;
  flood: number;
  lastTopic: string;
  lastBytes: number;
  reportedAt: number;
  /** Reports what was refused since the last report, once the quiet period is over. */
  timer: NodeJS.Timeout | undefined;
}

/**
 * Stands between the broker and every inbound handler: a message over `maxBytes` or beyond
 * the per-filter rate is dropped before any handler parses it, so a 100 MB payload or a
 * flood on a command topic costs a length check, not the inference budget. Refusals are
 * counted and reported as `inbound_refused` events, at most one per filter per 10 s.
 */
export class InboundGuard {
  readonly refused = { oversize: 0, flood: 0 };
  private readonly tallies = new Map<string, Tally>();

  constructor(private readonly opts: InboundGuardOptions) {}

  /** Whether a message of `bytes` on `topic`, matched by `filter`, may be handled. */
  admit(filter: string, topic: string, bytes: number): boolean {
    const tally = this.tally(filter);
    let ok = true;
    if (bytes > this.opts.maxBytes) {
      tally.oversize++;
      this.refused.oversize++;
      ok = false;
    } else if (tally.bucket.take(1) === 0) {
      tally.flood++;
      this.refused.flood++;
      ok = false;
    }
    if (!ok) {
      tally.lastTopic = topic;
      tally.lastBytes = bytes;
      this.maybeReport(filter, tally);
    }
    return ok;
  }

  private tally(filter: string): Tally {
    let t = this.tallies.get(filter);
    if (!t) {
      t = { bucket: new TokenBucket(this.opts.ratePerS, this.opts.burst, this.opts.clock), oversize: 0, flood: 0, lastTopic: '', lastBytes: 0, reportedAt: Number.NEGATIVE_INFINITY, timer: undefined };
      this.tallies.set(filter, t);
    }
    return t;
  }

  private maybeReport(filter: string, t: Tally): void {
    const now = this.opts.clock.monotonic();
    const wait = t.reportedAt + REPORT_EVERY_MS - now;
    if (wait > 0) {
      t.timer ??= setTimeout(() => {
        t.timer = undefined;
        this.report(filter, t);
      }, wait);
      t.timer.unref();
      return;
    }
    this.report(filter, t);
  }

  private report(filter: string, t: Tally): void {
    if (t.oversize === 0 && t.flood === 0) return;
    t.reportedAt = this.opts.clock.monotonic();
    const parts: string[] = [];
    if (t.oversize > 0) parts.push(`${t.oversize} over the ${this.opts.maxBytes}-byte limit (last ${t.lastBytes} bytes)`);
    if (t.flood > 0) parts.push(`${t.flood} beyond ${this.opts.ratePerS} messages/s`);
    const message = `refused inbound messages on ${t.lastTopic} (subscription ${filter}): ${parts.join(', ')}`;
    this.opts.log.warn({ filter, topic: t.lastTopic, oversize: t.oversize, flood: t.flood }, message);
    this.opts.events.record({ level: 'warn', kind: 'inbound_refused', source: 'sync', message, detail: { filter, topic: t.lastTopic, oversize: t.oversize, flood: t.flood, bytes: t.lastBytes } });
    t.oversize = 0;
    t.flood = 0;
  }
}
