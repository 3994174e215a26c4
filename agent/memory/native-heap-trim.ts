import type { Logger } from 'pino';
import type { Component } from '../lifecycle/component.js';
import { mallocTrim } from './glibc.js';

/*
 * glibc gives a freed block back to the system only when it lies at the top of its heap (or
 * was mmap'd on its own). Decoding (libvips, on libuv's pool), onnxruntime and SQLite allocate
 * and free on a dozen threads, each with its own glibc heap, and a block still in use in the
 * middle of a heap pins the free pages around it in the process's RSS. In a soak with a
 * camera running flat out, `malloc_trim(0)` released 21 MB of them at once after 44,000
 * frames. It walks every heap
 * and hands back each free page, wherever it lies; the agent calls it on libuv's pool (so the
 * event loop does not wait), through koffi, every `memory.trimIntervalMs`.
 */

export interface TrimResult {
  /** How long the trim took, in ms. */
  ms: number;
  /** RSS before and after, in bytes (other threads allocate meanwhile: a rough measure). */
  rssBefore: number;
  rssAfter: number;
}

export interface NativeHeapTrimOptions {
  /** Between trims, in ms; 0 turns trimming off. */
  intervalMs: number;
  log: Logger;
}

/** Hands the free pages of glibc's heaps back to the system, every `intervalMs`. */
export class NativeHeapTrim implements Component {
  readonly name = 'native-heap-trim';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<TrimResult | undefined> | undefined;
  /** Trims done since start, and the last one's result. */
  trims = 0;
  last: TrimResult | undefined;

  constructor(private readonly opts: NativeHeapTrimOptions) {}

  async start(): Promise<void> {
    if (this.opts.intervalMs <= 0) return;
    if (!mallocTrim()) {
      this.opts.log.info('native heap trimming is off: this system has no glibc malloc_trim');
      return;
    }
    this.timer = setInterval(() => void this.trim(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** One trim now (the one in progress, if there is one); undefined without glibc. */
  trim(): Promise<TrimResult | undefined> {
    this.running ??= this.trimOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private trimOnce(): Promise<TrimResult | undefined> {
    const fn = mallocTrim();
    if (!fn) return Promise.resolve(undefined);
    const rssBefore = process.memoryUsage.rss();
    const t0 = performance.now();
    return new Promise((resolve) => {
      fn.async(0, (err) => {
        if (err) {
          this.opts.log.warn({ err }, 'malloc_trim failed');
          resolve(undefined);
          return;
        }
        const result = { ms: performance.now() - t0, rssBefore, rssAfter: process.memoryUsage.rss() };
        this.trims++;
        this.last = result;
        this.opts.log.debug(result, 'native heaps trimmed');
        resolve(result);
      });
    });
  }
}
