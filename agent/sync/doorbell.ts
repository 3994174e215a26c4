/**
 * Lets the writer tell the sender "rows were committed" without either holding the other.
 * Rings are counted, so a ring that lands between a caller reading the outbox and starting
 * to wait is not lost: `wait(since)` returns at once when the count moved past `since`.
 */
export class Doorbell {
  private rings = 0;
  private waiters = new Set<() => void>();

  /** How many times the bell has rung; pass it to `wait` to not miss a ring. */
  get count(): number {
    return this.rings;
  }

  ring(): void {
    this.rings++;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves true when rung after `since`, false on timeout or abort. */
  wait(since: number, timeoutMs: number | undefined, signal: AbortSignal): Promise<boolean> {
    if (this.rings !== since) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (rung: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onRing);
        signal.removeEventListener('abort', onAbort);
        resolve(rung);
      };
      const onRing = () => finish(true);
      const onAbort = () => finish(false);
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(onRing);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
