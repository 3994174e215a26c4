import type { FallbackRule } from '../config/failsafe-schema.js';

/**
 * The first rule whose condition holds, given how to read the value a rule names; a rule
 * whose value is unknown or not finite does not hold.
 */
export function firstRule(rules: readonly FallbackRule[], valueOf: (rule: FallbackRule) => number | undefined): FallbackRule | undefined {
  for (const rule of rules) {
    const v = valueOf(rule);
    if (v === undefined || !Number.isFinite(v)) continue;
    if (rule.below !== undefined && !(v < rule.below)) continue;
    if (rule.above !== undefined && !(v > rule.above)) continue;
    return rule;
  }
  return undefined;
}

/** How a rule's condition reads, for logs and the prediction's top-k. */
export function describeRule(rule: FallbackRule): string {
  const what = rule.stat ?? rule.feature ?? '?';
  const parts = [rule.above !== undefined ? `${what} > ${rule.above}` : '', rule.below !== undefined ? `${what} < ${rule.below}` : ''].filter(Boolean);
  return parts.join(' and ');
}
