/**
 * The wait between two listings of the hot folder. Polling is the truth; a
 * filesystem notification only cuts the wait short, after a small gap so the
 * burst of notifications one write produces costs one listing, not ten.
 */
export class PollPause {
  private end: (() => void) | undefined;
  private shorten: (() => void) | undefined;
  private nudged = false;
  private halted = false;

  constructor(private readonly nudgeGapMs: number) {}

  /** Resolves after `ms`, sooner when nudged, at once when halted. */
  wait(ms: number): Promise<void> {
    if (this.halted) return Promise.resolve();
    const first = this.nudged ? Math.min(ms, this.nudgeGapMs) : ms;
    this.nudged = false;
    return new Promise((resolve) => {
      // Timers are real time on purpose: this only paces work, it measures nothing.
      let deadline = performance.now() + first;
      let timer: NodeJS.Timeout;
      const finish = (): void => {
        clearTimeout(timer);
        this.end = this.shorten = undefined;
        resolve();
      };
      timer = setTimeout(finish, first);
      this.end = finish;
      this.shorten = () => {
        const soon = performance.now() + this.nudgeGapMs;
        if (soon >= deadline) return;
        deadline = soon;
        clearTimeout(timer);
        timer = setTimeout(finish, this.nudgeGapMs);
      };
    });
  }

  /** Something changed in the folder: list it again soon. */
  nudge(): void {
    if (this.shorten) this.shorten();
    else this.nudged = true;
  }

  /** Ends the current wait and makes every later one return at once. */
  halt(): void {
    this.halted = true;
    this.end?.();
  }

  resume(): void {
    this.halted = false;
    this.nudged = false;
  }
}
