/** Finest latency told apart, ms; anything faster counts as this. */
const MIN_MS = 0.1;
/** Each bucket is this much wider than the previous: quantiles are within about ±7 %. */
const RATIO = 1.15;
/** Buckets from MIN_MS up to about ten minutes; slower values share the last one. */
const BUCKETS = Math.ceil(Math.log(600_000 / MIN_MS) / Math.log(RATIO)) + 1;
const LOG_RATIO = Math.log(RATIO);

/**
 * Latency quantiles over the last minute, for the status page. Cumulative Prometheus
 * buckets cannot answer "p99 right now", and keeping every sample would grow per frame,
 * so this keeps a few fixed log-spaced histograms, one per slice of the window, and
 * reuses the oldest slice as time moves on. Recording is O(1) and allocates nothing.
 */
export class RecentHistogram {
  private readonly slots: Uint32Array[];
  /** Which slice of time (monotonic ms / sliceMs) each slot currently holds. */
  private readonly epochs: Float64Array;
  private readonly merged = new Float64Array(BUCKETS);

  constructor(
    readonly windowMs = 60_000,
    private readonly sliceMs = 10_000,
  ) {
    const n = Math.max(1, Math.round(windowMs / sliceMs));
    this.slots = Array.from({ length: n }, () => new Uint32Array(BUCKETS));
    this.epochs = new Float64Array(n).fill(-1);
  }

  /** Records a latency of `ms` at monotonic time `now`. */
  observe(ms: number, now: number): void {
    const slot = this.slotFor(now);
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_RATIO));
    slot[i] = (slot[i] ?? 0) + 1;
  }

  /** Quantiles (0–1) in ms over the window ending at `now`, null for each when nothing was recorded. */
  quantiles(qs: readonly number[], now: number): { count: number; values: Array<number | null> } {
    const epoch = Math.floor(now / this.sliceMs);
    this.merged.fill(0);
    let count = 0;
    this.slots.forEach((slot, s) => {
      const e = this.epochs[s] ?? -1;
      if (e < 0 || e > epoch || epoch - e >= this.slots.length) return;
      for (let i = 0; i < BUCKETS; i++) {
        const c = slot[i] ?? 0;
        this.merged[i] = (this.merged[i] ?? 0) + c;
        count += c;
      }
    });
    const values = qs.map((q) => (count === 0 ? null : this.valueAt(Math.max(1, Math.ceil(q * count)))));
    return { count, values };
  }

  /** The geometric middle of the bucket holding the `rank`-th smallest value. */
  private valueAt(rank: number): number {
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.merged[i] ?? 0;
      if (seen >= rank) return i === 0 ? MIN_MS : MIN_MS * RATIO ** (i - 0.5);
    }
    return MIN_MS * RATIO ** (BUCKETS - 1);
  }

  private slotFor(now: number): Uint32Array {
    const epoch = Math.floor(now / this.sliceMs);
    const s = epoch % this.slots.length;
    const slot = this.slots[s] as Uint32Array;
    if (this.epochs[s] !== epoch) {
      slot.fill(0);
      this.epochs[s] = epoch;
    }
    return slot;
  }
}
