/** Timers as the LED uses them; tests pass fake ones to step through a pattern. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers that never keep the process alive on their own. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Plays an on/off pattern by switching a level on a timer, for LEDs without a matching kernel trigger. */
export class Blinker {
  private handle: unknown;
  private playing = false;

  constructor(
    private readonly timers: Timers,
    private readonly setLevel: (on: boolean) => void,
  ) {}

  /** Starts `steps` (ms, alternating on/off, starting with on) from the beginning, repeating. */
  play(steps: readonly number[]): void {
    this.stop();
    if (steps.length === 0) return;
    this.playing = true;
    let i = 0;
    const step = () => {
      if (!this.playing) return;
      this.setLevel(i % 2 === 0);
      const ms = steps[i] ?? 0;
      i = (i + 1) % steps.length;
      this.handle = this.timers.setTimeout(step, ms);
    };
    step();
  }

  stop(): void {
    this.playing = false;
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = undefined;
  }
}
