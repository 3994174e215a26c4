import type { Logger } from 'pino';
import type { LedConfig } from '../../config/schema.js';
import type { Component } from '../../lifecycle/component.js';
import { systemTimers, type Timers } from './blinker.js';
import type { LedDriver } from './driver.js';
import { GpioLed } from './gpio.js';
import { LED_PATTERNS, ledStateOf, type LedInputs, type LedState } from './patterns.js';
import { SysfsLed } from './sysfs.js';

export interface StatusLedOptions {
  driver: LedDriver;
  /** The agent's current health and activity; asked every `pollMs`. */
  read: () => LedInputs;
  log: Logger;
  timers?: Timers;
  pollMs?: number;
}

/**
 * The gateway's status LED: one glance tells someone on the floor whether the agent is
 * fine, degraded, offline, updating, alarming or faulty. It follows the health verdict
 * by polling it, so nothing in the agent has to remember to tell the LED.
 */
export class StatusLed implements Component {
  readonly name = 'led';
  private readonly timers: Timers;
  private handle: unknown;
  private running = false;
  private shown: LedState | undefined;
  private readFailed = false;

  constructor(private readonly opts: StatusLedOptions) {
    this.timers = opts.timers ?? systemTimers;
  }

  /** The state the LED shows now. */
  get state(): LedState | undefined {
    return this.shown;
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.opts.driver.open();
    this.running = true;
    this.tick();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.timers.clearTimeout(this.handle);
    this.shown = 'off';
    await this.opts.driver.close();
  }

  /** Looks at the agent now and shows what it found, if that changed. */
  update(): void {
    let next: LedState;
    try {
      next = ledStateOf(this.opts.read());
      this.readFailed = false;
    } catch (err) {
      // The agent is tearing down or the store is gone; keep the last pattern, say it once.
      if (!this.readFailed) this.opts.log.warn({ err }, 'status LED could not read the agent state');
      this.readFailed = true;
      return;
    }
    if (next === this.shown) return;
    this.opts.log.info({ from: this.shown ?? 'off', to: next, driver: this.opts.driver.kind }, `status LED: ${next}`);
    this.shown = next;
    this.opts.driver.show(LED_PATTERNS[next]);
  }

  private tick(): void {
    if (!this.running) return;
    this.update();
    this.handle = this.timers.setTimeout(() => this.tick(), this.opts.pollMs ?? 1000);
  }
}

/** The configured LED, or undefined for `driver: none`. */
export function createStatusLed(config: LedConfig, deps: { read: () => LedInputs; log: Logger; timers?: Timers }): StatusLed | undefined {
  const timers = deps.timers ?? systemTimers;
  const log = deps.log.child({ component: 'led' });
  let driver: LedDriver;
  switch (config.driver) {
    case 'none':
      return undefined;
    case 'sysfs':
      driver = new SysfsLed({ root: config.sysfsRoot, name: config.name ?? '', timers, log });
      break;
    case 'gpio':
      driver = new GpioLed({ chip: config.chip ?? '', line: config.line ?? 0, activeLow: config.activeLow, timers, log });
      break;
  }
  return new StatusLed({ driver, read: deps.read, log, timers });
}
