import type { Clock } from '../clock.js';

/**
 * A rate limit on the monotonic clock: `ratePerS` tokens a second, at most `burst` saved up.
 * A rate of 0 means no limit.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly clock: Pick<Clock, 'monotonic'>,
  ) {
    this.tokens = burst;
    this.at = clock.monotonic();
  }

  /** Takes up to `want` tokens and returns how many it got (whole tokens only). */
  take(want: number): number {
    if (this.ratePerS === 0) return want;
    this.refill();
    const got = Math.min(want, Math.floor(this.tokens));
    this.tokens -= got;
    return got;
  }

  /** Gives back tokens taken but not used. */
  giveBack(n: number): void {
    if (this.ratePerS > 0) this.tokens = Math.min(this.burst, this.tokens + n);
  }

  /** Milliseconds until `n` tokens are available (0 when they are now). */
  msUntil(n: number): number {
    if (this.ratePerS === 0) return 0;
    this.refill();
    const missing = Math.min(n, this.burst) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / this.ratePerS) * 1000);
  }

  private refill(): void {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.ratePerS);
    this.at = now;
  }
}
