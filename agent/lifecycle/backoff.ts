export interface BackoffOptions {
  minMs: number;
  maxMs: number;
  /** Multiplier per attempt. */
  factor?: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Jittered exponential backoff ("full jitter"): attempt n waits a random time in
 * [min, min(max, min * factor^n)], so a fleet reconnecting after an outage spreads out.
 */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}

  next(): number {
    const { minMs, maxMs, factor = 2, random = Math.random } = this.opts;
    const ceiling = Math.min(maxMs, minMs * factor ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 64);
    return Math.round(minMs + random() * (ceiling - minMs));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves once `signal` has aborted (at once if it already has). */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
