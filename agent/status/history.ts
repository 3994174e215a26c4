import type { DriftSeries } from './drift-history.js';

/** One reading of the figures the page charts, taken every `stepMs`. */
export interface MetricSample {
  /** Wall ms. */
  ts: number;
  predictionsPerS: number;
  p50Ms: number | null;
  p99Ms: number | null;
  outboxPending: number;
}

/** The samples since a time, column by column (nulls where nothing was measured): small to send. */
export interface MetricSeries {
  stepS: number;
  ts: number[];
  predictionsPerS: number[];
  p50Ms: Array<number | null>;
  p99Ms: Array<number | null>;
  outboxPending: number[];
}

/**
 * The last hour of throughput, latency and outbox depth for the page's charts. A fixed
 * ring of typed arrays: recording allocates nothing, and the memory never grows whatever
 * the uptime.
 */
export class MetricHistory {
  private readonly ts: Float64Array;
  private readonly rate: Float64Array;
  private readonly p50: Float64Array;
  private readonly p99: Float64Array;
  private readonly outbox: Float64Array;
  /** Where the next sample goes. */
  private next = 0;
  private size = 0;

  constructor(
    readonly stepMs = 10_000,
    readonly capacity = 360,
  ) {
    this.ts = new Float64Array(capacity);
    this.rate = new Float64Array(capacity);
    this.p50 = new Float64Array(capacity);
    this.p99 = new Float64Array(capacity);
    this.outbox = new Float64Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  record(s: MetricSample): void {
    const i = this.next;
    this.ts[i] = s.ts;
    this.rate[i] = s.predictionsPerS;
    // NaN stands for "nothing measured" inside the typed array.
    this.p50[i] = s.p50Ms ?? Number.NaN;
    this.p99[i] = s.p99Ms ?? Number.NaN;
    this.outbox[i] = s.outboxPending;
    this.next = (i + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** Samples taken at or after `since` (wall ms), oldest first, with `live` (a reading taken now) appended when given. */
  since(since: number, live?: MetricSample): MetricSeries {
    const out: MetricSeries = { stepS: this.stepMs / 1000, ts: [], predictionsPerS: [], p50Ms: [], p99Ms: [], outboxPending: [] };
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let k = 0; k < this.size; k++) {
      const i = (start + k) % this.capacity;
      const ts = this.ts[i]!;
      if (ts < since) continue;
      push(out, ts, this.rate[i]!, this.p50[i]!, this.p99[i]!, this.outbox[i]!);
    }
    if (live && live.ts >= since) push(out, live.ts, live.predictionsPerS, live.p50Ms ?? Number.NaN, live.p99Ms ?? Number.NaN, live.outboxPending);
    return out;
  }
}

function push(out: MetricSeries, ts: number, rate: number, p50: number, p99: number, outbox: number): void {
  out.ts.push(ts);
  out.predictionsPerS.push(round(rate));
  out.p50Ms.push(Number.isNaN(p50) ? null : round(p50));
  out.p99Ms.push(Number.isNaN(p99) ? null : round(p99));
  out.outboxPending.push(outbox);
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** What `GET /api/history` answers. */
export interface HistoryView {
  minutes: number;
  /** Wall ms the answer was made; the charts end here. */
  ts: number;
  metrics: MetricSeries;
  /** One series per watched model. */
  drift: DriftSeries[];
}
