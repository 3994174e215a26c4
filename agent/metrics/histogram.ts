/**
 * Upper bounds in seconds for per-frame latencies: a 1-2-5 series from 1 ms to 1 s, with
 * two more buckets above so a slow gateway's tail is still told apart from "over a second".
 */
export const LATENCY_BUCKETS_S: readonly number[] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

/**
 * A Prometheus histogram: fixed buckets allocated once, so recording on the hot path
 * costs a short scan and no allocation however many frames go through.
 */
export class Histogram {
  /** Observations per bucket (not cumulative); the last slot is the +Inf bucket. */
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_S) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    // `le` semantics: a value equal to a bound belongs to that bound's bucket.
    while (i < this.bounds.length && value > (this.bounds[i] ?? Number.POSITIVE_INFINITY)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }

  /** Cumulative counts per bound, as Prometheus exposes them; the +Inf bucket (= count) last. */
  cumulative(): number[] {
    const out: number[] = [];
    let running = 0;
    for (const c of this.counts) {
      running += c;
      out.push(running);
    }
    return out;
  }
}
