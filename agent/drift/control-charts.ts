/*
 * Control charts against the reference mean and standard deviation: EWMA catches a slow
 * drift of the mean, CUSUM a sustained small shift. Both signal when they leave their
 * limits; `reset` starts them again after a judgement. Confidence and image statistics
 * are far from normal (a top-1 probability sits near 1 with a long tail below), so the
 * charts watch the means of subgroups of samples (`SubgroupCharts`), which are.
 */

/** EWMA with smoothing λ and limits at L standard deviations of the EWMA statistic. */
export class Ewma {
  private z: number;
  private readonly limit: number;
  signalled = false;

  constructor(
    private readonly mean: number,
    std: number,
    private readonly lambda = 0.1,
    L = 3.5,
  ) {
    this.z = mean;
    this.limit = L * Math.max(std, 1e-9) * Math.sqrt(lambda / (2 - lambda));
  }

  add(x: number): void {
    this.z = this.lambda * x + (1 - this.lambda) * this.z;
    if (Math.abs(this.z - this.mean) > this.limit) this.signalled = true;
  }

  /** Distance of the EWMA from the reference mean, in units of its limit (≥ 1: out of control). */
  get level(): number {
    return Math.abs(this.z - this.mean) / this.limit;
  }

  reset(): void {
    this.signalled = false;
  }
}

/** Two-sided tabular CUSUM on standardised values with slack k and decision interval h. */
export class Cusum {
  private high = 0;
  private low = 0;
  signalled = false;

  constructor(
    private readonly mean: number,
    private readonly std: number,
    private readonly k = 0.5,
    private readonly h = 8,
  ) {}

  add(x: number): void {
    const z = (x - this.mean) / Math.max(this.std, 1e-9);
    this.high = Math.max(0, this.high + z - this.k);
    this.low = Math.max(0, this.low - z - this.k);
    if (this.high > this.h || this.low > this.h) this.signalled = true;
  }

  /** The larger of the two sums in units of h (≥ 1: out of control). */
  get level(): number {
    return Math.max(this.high, this.low) / this.h;
  }

  reset(): void {
    this.signalled = false;
    this.high = 0;
    this.low = 0;
  }
}

/** Samples per subgroup: enough for their mean to be close to normal. */
export const SUBGROUP = 25;

/**
 * EWMA and CUSUM on the means of consecutive subgroups of `SUBGROUP` samples, scaled by the
 * reference's per-sample standard deviation rather than the (five times smaller) one of a
 * subgroup mean: the charts flag a sustained shift of the mean by about half a reference
 * standard deviation or more, and not the small difference between a reference of a few
 * hundred samples and the line, which would otherwise alarm on a healthy stream.
 */
export class SubgroupCharts {
  readonly ewma: Ewma;
  readonly cusum: Cusum;
  private sum = 0;
  private n = 0;

  constructor(mean: number, std: number) {
    this.ewma = new Ewma(mean, std);
    this.cusum = new Cusum(mean, std);
  }

  add(x: number): void {
    this.sum += x;
    if (++this.n < SUBGROUP) return;
    const mean = this.sum / this.n;
    this.sum = 0;
    this.n = 0;
    this.ewma.add(mean);
    this.cusum.add(mean);
  }
}
