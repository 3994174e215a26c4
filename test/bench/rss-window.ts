import { readFileSync } from 'node:fs';

/**
 * The RSS over a stretch of time, sampled every `everyMs`. One reading of the RSS falls
 * somewhere on the saw-tooth that the native heap trims and the full collections of the JS
 * heap draw (a trim hands back 10-15 MB that the next seconds take again); the median over
 * one trim interval or more does not depend on where.
 */
export class RssWindow {
  readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly until: number;

  constructor(readonly lengthMs: number, everyMs = 250) {
    this.until = performance.now() + lengthMs;
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** The window has lasted its length. */
  get done(): boolean {
    return performance.now() >= this.until;
  }

  stop(): number[] {
    clearInterval(this.timer);
    return this.samples;
  }

  private sample(): void {
    if (this.done) this.stop();
    else this.samples.push(process.memoryUsage.rss());
  }
}

/** Resident anonymous memory (heaps) and file-backed memory (the code of node and its libraries), in bytes, from /proc. */
export function residentSplit(): { anon: number; file: number } | undefined {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { anon: kib('RssAnon'), file: kib('RssFile') };
  } catch {
    return undefined;
  }
}
