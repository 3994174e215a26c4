import { statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../clock.js';
import type { DiskUsage } from './snapshot.js';

export interface DiskProbeOptions {
  /** The SQLite file; `:memory:` has no disk to report. */
  storePath: string;
  clock: Clock;
  /** Answers are reused this long: several phones polling must not mean several statfs per second. */
  cacheMs?: number;
}

/** Space on the filesystem that holds the store, and the store's own size. */
export class DiskProbe {
  private cached: { at: number; usage: DiskUsage | null } | undefined;

  constructor(private readonly opts: DiskProbeOptions) {}

  read(): DiskUsage | null {
    const now = this.opts.clock.monotonic();
    if (this.cached && now - this.cached.at < (this.opts.cacheMs ?? 5000)) return this.cached.usage;
    const usage = this.measure();
    this.cached = { at: now, usage };
    return usage;
  }

  private measure(): DiskUsage | null {
    const file = this.opts.storePath;
    if (file === ':memory:') return null;
    const path = dirname(file);
    try {
      const fs = statfsSync(path);
      const storeBytes = ['', '-wal', '-shm'].reduce((sum, suffix) => sum + sizeOf(file + suffix), 0);
      return {
        path,
        totalBytes: fs.blocks * fs.bsize,
        // What an unprivileged agent can still write, not counting root's reserve.
        freeBytes: fs.bavail * fs.bsize,
        usedBytes: (fs.blocks - fs.bfree) * fs.bsize,
        storeBytes,
        quotaBytes: null,
      };
    } catch {
      return null;
    }
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
