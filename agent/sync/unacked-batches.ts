/** Unacknowledged batches remembered for resending with the same ids. */
const MAX_REMEMBERED = 1024;

/**
 * Batches published and not yet acknowledged, first → last seq, kept sorted by first. A
 * batch that goes again goes with exactly its rows, so its copy carries the same batch id
 * and central drops it.
 */
export class UnackedBatches {
  private readonly batches = new Map<number, number>();

  remember(first: number, last: number): void {
    this.batches.set(first, last);
    if (this.batches.size > MAX_REMEMBERED) this.batches.delete(this.batches.keys().next().value!);
    // Kept sorted by first, so `cut` finds the next one in a single pass.
    if (this.batches.size > 1) {
      const sorted = [...this.batches].sort((a, b) => a[0] - b[0]);
      this.batches.clear();
      for (const [f, l] of sorted) this.batches.set(f, l);
    }
  }

  acknowledged(first: number): void {
    this.batches.delete(first);
  }

  /** The end of the next batch starting after `cursor`: a remembered batch ends where it ended. */
  cut(cursor: number, upTo: number): number {
    for (const [first, last] of this.batches) {
      if (last <= cursor) continue;
      return Math.min(upTo, cursor + 1 >= first ? last : first - 1);
    }
    return upTo;
  }

  /** Rows left of the remembered batch that `after` stands in (0 if none). */
  resendSpan(after: number): number {
    for (const [first, last] of this.batches) {
      if (last <= after) continue;
      return after + 1 >= first ? last - after : 0;
    }
    return 0;
  }
}
