import type { LedPattern } from './patterns.js';

/**
 * Something that can show an LED pattern. A driver never throws at the agent: an LED
 * that is missing or not writable is worth a warning, never a stopped production line.
 */
export interface LedDriver {
  readonly kind: string;
  open(): Promise<void>;
  show(pattern: LedPattern): void;
  /** Leaves the LED off and releases it. */
  close(): Promise<void>;
}

/** Logs the first problem of a driver as a warning and the rest at debug, so a broken LED cannot flood the log. */
export class OneWarning {
  private warned = false;

  constructor(private readonly log: { warn(obj: object, msg: string): void; debug(obj: object, msg: string): void }) {}

  report(err: unknown, message: string): void {
    if (this.warned) return this.log.debug({ err }, message);
    this.warned = true;
    this.log.warn({ err }, `${message} (further LED problems are logged at debug level)`);
  }
}
