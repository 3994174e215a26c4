/**
 * Events per second over a sliding window (predictions per second over the last minute):
 * one counter per second in a fixed ring, so counting is O(1) and allocates nothing.
 */
export class SlidingCount {
  private readonly counts: Float64Array;
  /** Which second (monotonic ms / 1000) each slot currently holds. */
  private readonly seconds: Float64Array;

  /** `startedAt` (monotonic ms) keeps the first minute's rate from being diluted by seconds that never happened. */
  constructor(
    private readonly startedAt: number,
    readonly windowS = 60,
  ) {
    this.counts = new Float64Array(windowS);
    this.seconds = new Float64Array(windowS).fill(-1);
  }

  add(now: number, n = 1): void {
    const second = Math.floor(now / 1000);
    const i = second % this.windowS;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.counts[i] = 0;
    }
    this.counts[i] = (this.counts[i] ?? 0) + n;
  }

  /** How many were added in the window ending at `now`. */
  total(now: number): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowS; i++) {
      const s = this.seconds[i] ?? -1;
      if (s >= 0 && s <= second && second - s < this.windowS) sum += this.counts[i] ?? 0;
    }
    return sum;
  }

  /** Per second over the window, or over the time since start while that is shorter. */
  rate(now: number): number {
    // The window holds windowS-1 whole seconds plus the running one.
    const windowS = this.windowS - 1 + (now % 1000) / 1000;
    const spanS = Math.min(windowS, (now - this.startedAt) / 1000);
    return spanS <= 0 ? 0 : this.total(now) / Math.max(spanS, 1);
  }
}
