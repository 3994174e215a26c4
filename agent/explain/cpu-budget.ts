/**
 * Caps explanation work at a share of live inference time. Every live inference earns
 * `share` × its time as credit (up to `maxCreditMs`); an explanation is admitted only when
 * the credit covers its estimated cost, and its actual time is then spent.
 */
export class CpuBudget {
  private credit: number;

  constructor(
    readonly share: number,
    private readonly maxCreditMs: number,
  ) {
    this.credit = 0;
  }

  earn(inferenceMs: number): void {
    if (!(inferenceMs > 0)) return;
    this.credit = Math.min(this.maxCreditMs, this.credit + this.share * inferenceMs);
  }

  /** Whether `estimateMs` of work fits now. */
  affords(estimateMs: number): boolean {
    return this.share > 0 && this.credit >= estimateMs;
  }

  spend(ms: number): void {
    this.credit -= ms;
  }

  get creditMs(): number {
    return this.credit;
  }
}
