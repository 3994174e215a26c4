import type { TagRule, ValidationConfig } from '../config/sensor-schema.js';
import type { EventSink } from '../events.js';
import type { TagSample } from '../features/tag-sample.js';
import { TagValidator, type Violation } from './tag-validator.js';

/**
 * A model's data validation: every rule over the tags the model reads, violations kept
 * until the windows that cover them are judged. An event is written when a tag starts
 * breaking a rule, and again when it stops, not for every sample in between.
 */
export class ModelValidator {
  private readonly validators = new Map<string, TagValidator>();
  private recent: Violation[] = [];
  private readonly active = new Set<string>();

  constructor(
    private readonly model: string,
    tags: readonly string[],
    rules: readonly TagRule[],
    private readonly events: EventSink,
  ) {
    // Timestamp order is checked for every tag, with or without rules.
    for (const tag of tags) this.validators.set(tag, new TagValidator({ tag }));
    for (const rule of rules) this.validators.set(rule.tag, new TagValidator(mergeRules(rule, rules)));
  }

  observe(sample: TagSample): void {
    const v = this.validators.get(sample.tag);
    if (!v) return;
    const found = v.check(sample);
    const broken = new Set(found.map((f) => `${f.tag}:${f.rule}`));
    for (const f of found) {
      this.recent.push(f);
      const key = `${f.tag}:${f.rule}`;
      if (this.active.has(key)) continue;
      this.active.add(key);
      this.events.record({ level: 'warn', kind: 'sensor_validation', source: this.model, message: f.message, detail: { model: this.model, tag: f.tag, rule: f.rule, value: f.value, ts: f.ts } });
    }
    if (sample.gap || sample.held || sample.quality !== 'good') return;
    for (const key of [...this.active]) {
      if (!key.startsWith(`${sample.tag}:`) || broken.has(key)) continue;
      this.active.delete(key);
      this.events.record({ level: 'info', kind: 'sensor_validation_cleared', source: this.model, message: `${sample.tag}: ${key.slice(sample.tag.length + 1)} no longer violated`, detail: { model: this.model, tag: sample.tag, rule: key.slice(sample.tag.length + 1) } });
    }
  }

  /** Violations with source time in (start, end]; older ones are forgotten. */
  take(start: number, end: number): Violation[] {
    const hit = this.recent.filter((v) => v.ts > start && v.ts <= end);
    this.recent = this.recent.filter((v) => v.ts > start);
    if (this.recent.length > 10_000) this.recent = this.recent.slice(-10_000);
    return hit;
  }
}

/** Several rules for one tag (config and manifest file) act as one, the later filling gaps. */
function mergeRules(rule: TagRule, all: readonly TagRule[]): TagRule {
  const same = all.filter((r) => r.tag === rule.tag);
  return Object.assign({}, ...same.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)))) as TagRule;
}

export type { ValidationConfig, Violation };
