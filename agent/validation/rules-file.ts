import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { TagRuleSchema, type TagRule } from '../config/sensor-schema.js';
import { AgentError, errorMessage } from '../errors.js';

/** A model's manifest of input limits: the rules its training data justify, shipped beside it. */
export const RulesFileSchema = z.strictObject({ rules: z.array(TagRuleSchema) });

/** Reads and validates a rules file (JSON is YAML); every problem is named with its path. */
export function readRulesFile(file: string, baseDir: string, model: string): TagRule[] {
  const path = resolve(baseDir, file);
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AgentError('E_CONFIG', `validation file of model "${model}" (${path}) could not be read: ${errorMessage(err)}`, { cause: err });
  }
  const parsed = RulesFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new AgentError('E_CONFIG', `validation file of model "${model}" (${path}) is not valid: ${problems}`);
  }
  return parsed.data.rules;
}
