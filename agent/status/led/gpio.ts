import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { Blinker, type Timers } from './blinker.js';
import { OneWarning, type LedDriver } from './driver.js';
import type { LedPattern } from './patterns.js';

export interface GpioLedOptions {
  /** gpiochip name or number, e.g. `gpiochip0`. */
  chip: string;
  line: number;
  activeLow: boolean;
  timers: Timers;
  log: Logger;
  /** The gpioset binary; a fake script in tests. */
  command?: string;
}

/**
 * An LED on a GPIO line, driven through libgpiod's `gpioset`. A line keeps its value
 * only while the gpioset that set it runs, so each change replaces one long-running
 * gpioset with the next. libgpiod 2 toggles a pattern by itself (`-t`); with
 * libgpiod 1 a blink is one gpioset per change.
 */
export class GpioLed implements LedDriver {
  readonly kind = 'gpio';
  private readonly command: string;
  private readonly blinker: Blinker;
  private readonly problems: OneWarning;
  private major: 1 | 2 | undefined;
  private holder: ChildProcess | undefined;
  private level: boolean | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: GpioLedOptions) {
    this.command = opts.command ?? 'gpioset';
    this.problems = new OneWarning(opts.log);
    this.blinker = new Blinker(opts.timers, (on) => this.set(on));
  }

  async open(): Promise<void> {
    const version = await output(this.command, ['--version']).catch((err: unknown) => {
      this.problems.report(err, `${this.command} not found or not runnable (install libgpiod's tools: apt-get install gpiod); the status LED stays dark`);
      return undefined;
    });
    if (version === undefined) return;
    this.major = /\bv2\./.test(version) ? 2 : 1;
  }

  show(pattern: LedPattern): void {
    this.blinker.stop();
    if (this.major === undefined) return;
    if (pattern.steps.length === 0) return this.set(pattern.steady);
    if (this.major === 1) return this.blinker.play(pattern.steps);
    this.level = undefined;
    this.hold(['-t', pattern.steps.map((ms) => `${ms}ms`).join(','), ...this.target(true)]);
  }

  async close(): Promise<void> {
    this.blinker.stop();
    this.level = undefined;
    this.chain = this.chain.then(() => this.release());
    await this.chain;
  }

  /** Resolves once every change asked for so far has been handed to gpioset. */
  settled(): Promise<void> {
    return this.chain;
  }

  private set(on: boolean): void {
    if (this.major === undefined || this.level === on) return;
    this.level = on;
    this.hold(this.major === 1 ? ['--mode=signal', ...this.target(on)] : this.target(on));
  }

  private target(on: boolean): string[] {
    const { chip, line, activeLow } = this.opts;
    const value = `${line}=${on ? 1 : 0}`;
    const low = activeLow ? ['-l'] : [];
    return this.major === 1 ? [...low, chip, value] : [...low, '-c', chip, value];
  }

  /** The previous gpioset must have let go of the line before the next can claim it. */
  private hold(args: string[]): void {
    this.chain = this.chain.then(async () => {
      await this.release();
      const child = spawn(this.command, args, { stdio: 'ignore' });
      child.once('error', (err) => this.problems.report(err, `${this.command} ${args.join(' ')} failed`));
      child.once('exit', (code, signal) => {
        if (code !== 0 && signal === null) this.problems.report(undefined, `${this.command} ${args.join(' ')} exited with code ${code}`);
      });
      this.holder = child;
    });
  }

  private async release(): Promise<void> {
    const child = this.holder;
    this.holder = undefined;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 1000)));
    if ((await Promise.race([exited, late])) === 'late') child.kill('SIGKILL');
    clearTimeout(timer);
  }
}

/** A command's stdout, or a rejection when it cannot be run. */
function output(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('error', reject);
    child.once('close', () => resolve(out));
  });
}
