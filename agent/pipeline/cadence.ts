/**
 * When the next frame of a steady source (a camera at its frame rate) is due, from the
 * arrivals so far: a moving mean of the interval between arrivals. Background work asks it
 * whether a piece of work would still be running when that frame comes, because on a
 * 2-core gateway such a frame shares the CPU with it and its latency is what the line sees.
 */
export class Cadence {
  private last: number | undefined;
  private interval: number | undefined;

  /** Records a frame's arrival time (monotonic ms). */
  arrived(at: number): void {
    if (this.last !== undefined && at > this.last) {
      const gap = at - this.last;
      this.interval = this.interval === undefined ? gap : this.interval + (gap - this.interval) / 8;
    }
    this.last = at;
  }

  /**
   * Whether work of `ms` started `now` would overlap the next frame's arrival. A source that
   * missed two of its intervals is treated as stopped (a triggered camera between parts, a
   * folder gone quiet), so background work is never held back by a frame that is not coming.
   */
  overlapsNext(now: number, ms: number): boolean {
    if (this.last === undefined || this.interval === undefined) return false;
    const next = this.last + this.interval;
    if (now > this.last + 2 * this.interval) return false;
    return now + ms > next;
  }
}
