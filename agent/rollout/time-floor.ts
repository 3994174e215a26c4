import type { Clock } from '../clock.js';

/**
 * The wall clock as validity checks should see it: never earlier than the newest time
 * central signed (a desired state's issuedAt), moved on by the monotonic clock since. A
 * gateway whose clock was stepped back an hour, or lost its RTC in a power cut, therefore
 * still refuses a manifest that expired before central issued its desired state.
 */
export class TimeFloor implements Clock {
  private floor = Number.NEGATIVE_INFINITY;
  private floorAt = 0;

  constructor(private readonly base: Clock) {}

  /** A signed time from central: now is at least this. */
  raise(epochMs: number): void {
    if (!Number.isFinite(epochMs) || epochMs <= this.now()) return;
    this.floor = epochMs;
    this.floorAt = this.base.monotonic();
  }

  now(): number {
    return Math.max(this.base.now(), this.floor + (this.base.monotonic() - this.floorAt));
  }

  monotonic(): number {
    return this.base.monotonic();
  }
}
