import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import type { Component } from './component.js';

/**
 * Starts components in the order given (downstream first: buffer and sync before
 * sources) and stops them in reverse (upstream first) under one shared deadline,
 * so every stage drains into the next before that one closes.
 */
export class Supervisor {
  private readonly controller = new AbortController();
  private started: Component[] = [];
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly components: Component[],
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    for (const c of this.components) {
      const t0 = performance.now();
      try {
        await c.start(this.controller.signal);
      } catch (err) {
        this.log.error({ err, component: c.name }, `could not start ${c.name}: ${errorMessage(err)}`);
        await this.stop(5000);
        throw err;
      }
      this.started.push(c);
      this.log.debug({ component: c.name, ms: Math.round(performance.now() - t0) }, 'started');
    }
  }

  /** Stops upstream first. Components still busy at the deadline are abandoned and logged. */
  stop(deadlineMs: number): Promise<void> {
    this.stopping ??= this.stopAll(deadlineMs);
    return this.stopping;
  }

  private async stopAll(deadlineMs: number): Promise<void> {
    this.controller.abort();
    const deadline = performance.now() + deadlineMs;
    for (const c of [...this.started].reverse()) {
      const left = Math.max(0, deadline - performance.now());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      });
      try {
        const outcome = await Promise.race([c.stop().then(() => 'stopped' as const), timeout]);
        if (outcome === 'timeout') this.log.warn({ component: c.name }, `${c.name} did not stop before the deadline`);
      } catch (err) {
        this.log.error({ err, component: c.name }, `error while stopping ${c.name}`);
      } finally {
        clearTimeout(timer);
      }
    }
    this.started = [];
  }
}
