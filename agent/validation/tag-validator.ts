import type { TagRule } from '../config/sensor-schema.js';
import type { TagSample } from '../features/tag-sample.js';

export type RuleKind = 'range' | 'rate' | 'stuck' | 'timestamp_backwards' | 'not_allowed';

/** One sample that broke one rule. */
export interface Violation {
  tag: string;
  rule: RuleKind;
  /** Source time of the offending sample. */
  ts: number;
  value: unknown;
  message: string;
}

/**
 * Checks one tag's samples as they arrive. It keeps the previous reading (for rate and
 * timestamp order) and the run of identical values (for a stuck sensor). Only good
 * readings are judged: a Bad status is already marked as such.
 */
export class TagValidator {
  private prev: { ts: number; value: unknown } | undefined;
  private run = 0;

  constructor(private readonly rule: TagRule) {}

  check(s: TagSample): Violation[] {
    if (s.gap || s.held) return [];
    const out: Violation[] = [];
    const r = this.rule;
    const add = (rule: RuleKind, message: string) => out.push({ tag: s.tag, rule, ts: s.sourceTs, value: s.value, message: `${s.tag}: ${message}` });
    const prev = this.prev;
    if (prev && s.sourceTs < prev.ts) add('timestamp_backwards', `source timestamp ${new Date(s.sourceTs).toISOString()} is before the previous ${new Date(prev.ts).toISOString()}`);
    if (s.quality !== 'good') return out;
    const v = s.value;
    if (r.allowed && !r.allowed.some((a) => a === v)) add('not_allowed', `${JSON.stringify(v)} is not one of ${JSON.stringify(r.allowed)}`);
    if (typeof v === 'number') {
      if (r.min !== undefined && v < r.min) add('range', `${v} is below the minimum ${r.min}`);
      if (r.max !== undefined && v > r.max) add('range', `${v} is above the maximum ${r.max}`);
      if (r.maxRatePerS !== undefined && prev && typeof prev.value === 'number' && s.sourceTs > prev.ts) {
        const rate = Math.abs(v - prev.value) / ((s.sourceTs - prev.ts) / 1000);
        if (rate > r.maxRatePerS) add('rate', `changed ${round(rate)}/s, more than ${r.maxRatePerS}/s`);
      }
    }
    this.run = prev && prev.value === v ? this.run + 1 : 1;
    if (r.stuckSamples !== undefined && this.run >= r.stuckSamples) add('stuck', `the same value ${JSON.stringify(v)} ${this.run} samples in a row`);
    if (!prev || s.sourceTs >= prev.ts) this.prev = { ts: s.sourceTs, value: v };
    return out;
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
