/**
 * Time as the agent sees it. Wall time stamps records; monotonic time drives
 * timers and latencies so a clock step never reorders or stalls anything.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds, unrelated to the wall clock. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
