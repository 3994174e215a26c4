import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { SyntheticSourceConfig } from '../../config/schema.js';
import type { Counters } from '../../counters.js';
import type { Component } from '../../lifecycle/component.js';
import type { FrameQueue } from '../../pipeline/frame-queue.js';
import { encodePartJpeg, renderPart } from './synthetic-part.js';
import type { CaptureRequest, CaptureTarget } from './trigger.js';

export interface SyntheticSourceOptions {
  config: SyntheticSourceConfig;
  queue: FrameQueue;
  counters: Counters;
  clock: Clock;
  log: Logger;
}

/**
 * A free-running camera that photographs machined parts on a conveyor, some with
 * scratches or spots, at a fixed frame rate. It behaves like a real free-running
 * camera: when the pipeline falls behind, the oldest waiting frame is dropped.
 */
export class SyntheticSource implements Component, CaptureTarget {
  readonly name: string;
  private timer: NodeJS.Timeout | undefined;
  private index = 0;
  private producing: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: SyntheticSourceOptions) {
    this.name = `source:${opts.config.id}`;
  }

  async start(): Promise<void> {
    if (this.opts.config.mode === 'triggered') return;
    const period = 1000 / this.opts.config.fps;
    let due = this.opts.clock.monotonic();
    const tick = () => {
      if (this.stopped) return;
      // Skip a tick rather than pile up renders when the event loop is late.
      this.producing = this.producing.then(() => this.produce());
      due += period;
      const wait = Math.max(0, due - this.opts.clock.monotonic());
      this.timer = setTimeout(tick, wait);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.producing;
  }

  /** A triggered camera's picture: one frame now, carrying the part id. */
  capture(request: CaptureRequest): void {
    if (this.stopped) return;
    this.producing = this.producing.then(() => this.produce(request.partId));
  }

  private async produce(partId?: string): Promise<void> {
    const { config, queue, counters, clock, log } = this.opts;
    if (config.limit > 0 && this.index >= config.limit) return;
    const index = this.index++;
    try {
      const part = renderPart(index, config);
      const data = await encodePartJpeg(part);
      if (this.stopped) return;
      counters.frameIn(config.id, clock.now(), clock.monotonic());
      queue.offer({
        source: config.id,
        id: `part-${index}`,
        data,
        ts: clock.now(),
        arrivedAt: clock.monotonic(),
        ...(partId === undefined ? {} : { partId }),
        settle: () => {},
      });
    } catch (err) {
      log.error({ err }, 'could not render a synthetic frame');
    }
  }
}
