/** Limits how many frames are in flight across all sources. */
export class Slots {
  private free: number;
  private readonly waiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly capacity: number) {
    this.free = capacity;
  }

  get inFlight(): number {
    return this.capacity - this.free;
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) return next();
    this.free++;
    if (this.free === this.capacity) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.free === this.capacity) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
