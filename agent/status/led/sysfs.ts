import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Blinker, type Timers } from './blinker.js';
import { OneWarning, type LedDriver } from './driver.js';
import type { LedPattern } from './patterns.js';

export interface SysfsLedOptions {
  /** `/sys/class/leds`, or a fake folder in tests. */
  root: string;
  name: string;
  timers: Timers;
  log: Logger;
}

/**
 * An LED of the Linux LED class. Patterns the kernel can draw itself (`timer`,
 * `heartbeat`) are handed to its trigger, so the LED keeps its rhythm whatever the event
 * loop does; the others are played by switching `brightness` on a timer.
 */
export class SysfsLed implements LedDriver {
  readonly kind = 'sysfs';
  private readonly dir: string;
  private readonly blinker: Blinker;
  private readonly problems: OneWarning;
  private triggers = new Set<string>();
  private max = '1';
  /** False when the LED does not exist: then nothing is written, rather than failing every blink. */
  private present = false;

  constructor(opts: SysfsLedOptions) {
    this.dir = join(opts.root, opts.name);
    this.problems = new OneWarning(opts.log);
    this.blinker = new Blinker(opts.timers, (on) => this.write('brightness', on ? this.max : '0'));
  }

  async open(): Promise<void> {
    // `trigger` lists what this kernel offers, the active one in brackets: "none [timer] heartbeat".
    const offered = this.read('trigger');
    this.triggers = new Set((offered ?? '').split(/\s+/).map((t) => t.replace(/^\[|\]$/g, '')).filter(Boolean));
    this.max = this.read('max_brightness')?.trim() || '1';
    this.present = this.read('brightness') !== undefined;
    if (!this.present) this.problems.report(undefined, `LED ${this.dir} not found or not readable; the status LED stays dark`);
  }

  show(pattern: LedPattern): void {
    this.blinker.stop();
    if (!this.present) return;
    const trigger = pattern.trigger;
    if (trigger && this.triggers.has(trigger.name)) {
      this.write('trigger', trigger.name);
      if (trigger.name === 'timer') {
        this.write('delay_on', String(trigger.delayOn));
        this.write('delay_off', String(trigger.delayOff));
      }
      return;
    }
    if (this.triggers.size > 0) this.write('trigger', 'none');
    if (pattern.steps.length === 0) this.write('brightness', pattern.steady ? this.max : '0');
    else this.blinker.play(pattern.steps);
  }

  async close(): Promise<void> {
    this.blinker.stop();
    if (!this.present) return;
    if (this.triggers.size > 0) this.write('trigger', 'none');
    this.write('brightness', '0');
  }

  private read(file: string): string | undefined {
    try {
      return readFileSync(join(this.dir, file), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Synchronous: sysfs attributes answer at once, and a pattern's steps must keep their order. */
  private write(file: string, value: string): void {
    try {
      writeFileSync(join(this.dir, file), value);
    } catch (err) {
      this.problems.report(err, `cannot write ${value} to ${join(this.dir, file)}`);
    }
  }
}
