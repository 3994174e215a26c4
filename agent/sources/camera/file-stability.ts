/** What one listing saw of a file. */
export interface FileSighting {
  name: string;
  size: number;
  mtimeMs: number;
}

interface Watched {
  size: number;
  mtimeMs: number;
  /** Monotonic ms by which this size and mtime had been seen. */
  since: number;
}

/** The outcome of one listing: files now complete, oldest first, and when the next might be. */
export interface StabilityReview<T extends FileSighting> {
  complete: T[];
  /** Ms until a file still settling could be complete; Infinity when none is settling. */
  nextMs: number;
}

/**
 * Decides when a file in the hot folder is complete: its size and mtime have not
 * changed for `stableMs` of monotonic time, seen on at least two listings.
 * A writer's flush moves size or mtime, so an unchanged pair across the window
 * means nobody is writing. A writer that pauses longer than `stableMs` mid-file
 * cannot be told apart; such writers must write under a temporary name and rename.
 */
export class FileStability {
  private readonly watched = new Map<string, Watched>();

  constructor(private readonly stableMs: number) {}

  /**
   * Judges one listing whose sightings were made between `startedAt` and `endedAt`.
   * The window is measured from the listing's end to the next one's start, so it is
   * never overstated by slow stat calls, and files first seen together become
   * complete together, which keeps a backlog in mtime order.
   */
  review<T extends FileSighting>(sightings: readonly T[], startedAt: number, endedAt: number): StabilityReview<T> {
    const complete: T[] = [];
    let nextMs = Number.POSITIVE_INFINITY;
    const seenNow = new Set<string>();
    for (const seen of sightings) {
      seenNow.add(seen.name);
      const prev = this.watched.get(seen.name);
      if (!prev || prev.size !== seen.size || prev.mtimeMs !== seen.mtimeMs) {
        // Even with stableMs 0 a second listing is required: one sighting proves nothing.
        this.watched.set(seen.name, { size: seen.size, mtimeMs: seen.mtimeMs, since: endedAt });
        nextMs = Math.min(nextMs, this.stableMs);
        continue;
      }
      const waited = startedAt - prev.since;
      if (waited >= this.stableMs) complete.push(seen);
      else nextMs = Math.min(nextMs, this.stableMs - waited);
    }
    for (const name of this.watched.keys()) if (!seenNow.has(name)) this.watched.delete(name);
    complete.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { complete, nextMs };
  }

  /** Starts the window afresh the next time `name` is seen. */
  forget(name: string): void {
    this.watched.delete(name);
  }
}
