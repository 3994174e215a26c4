import type { TagSample } from './tag-sample.js';

/**
 * The recent samples of one tag, oldest first, kept for as long as the longest window
 * that reads the tag needs them. Appends are O(1); trimming drops from the front.
 */
export class SensorWindow {
  private items: TagSample[] = [];
  private head = 0;

  constructor(private retainMs: number) {}

  /** Keeps at least `ms` of history (the longest window plus its grace). */
  retain(ms: number): void {
    this.retainMs = Math.max(this.retainMs, ms);
  }

  push(sample: TagSample): void {
    this.items.push(sample);
    this.trim(sample.sourceTs);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** The newest sample, whatever its quality. */
  latest(): TagSample | undefined {
    return this.head < this.items.length ? this.items[this.items.length - 1] : undefined;
  }

  /**
   * The samples from the newest one at or before `ts` (the state at that moment) to the
   * end, oldest first, as an array and the index to start at; found by binary search, so a
   * window's statistics do not visit the history kept for longer windows.
   */
  since(ts: number): { items: readonly TagSample[]; from: number } {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid]!.sourceTs <= ts) lo = mid + 1;
      else hi = mid;
    }
    return { items: this.items, from: Math.max(this.head, lo - 1) };
  }

  /** Calls `fn` for every sample, oldest first. */
  forEach(fn: (s: TagSample) => void): void {
    for (let i = this.head; i < this.items.length; i++) fn(this.items[i]!);
  }

  private trim(now: number): void {
    const cutoff = now - this.retainMs;
    // Keep one sample before the cutoff: it is the value held at the window's start.
    while (this.head < this.items.length - 1 && this.items[this.head + 1]!.sourceTs <= cutoff) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
