import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../agent/config/config-error.js';
import { readYamlMapping } from '../../agent/config/yaml-file.js';
import { ClassifierOutputSchema } from '../../agent/config/schema.js';
import { loadLabels } from '../../agent/inference/labels.js';
import { formatIssues } from '../../protocol/parse.js';
import { PreprocessSchema } from '../../protocol/preprocess.js';
import { LineageSettingsSchema } from './lineage.js';

/**
 * How a model is fed and read: the `input`, `preprocess`, `output` and `labels` (or
 * `labelsFile`) keys of a models[] entry in the agent config, with the agent's own schemas,
 * so settings that pack are settings the agent accepts. Unknown keys are errors.
 */
export const ModelSettingsSchema = z
  .strictObject({
    /** Input tensor name; the model's first input when absent. */
    input: z.string().min(1).optional(),
    preprocess: PreprocessSchema,
    output: ClassifierOutputSchema.prefault({}),
    labels: z.array(z.string()).optional(),
    /** One label per line, relative to the settings file; read at pack time and carried in the manifest. */
    labelsFile: z.string().min(1).optional(),
    /** Training data, code commit, hyperparameters, validation metrics; carried in the manifest's lineage. */
    lineage: LineageSettingsSchema.optional(),
  })
  .refine((s) => !(s.labels && s.labelsFile), { message: 'give labels or labelsFile, not both', path: ['labelsFile'] });
export type ModelSettings = z.infer<typeof ModelSettingsSchema>;

/** Settings read and checked, with labels resolved from a labels file. */
export interface LoadedSettings {
  settings: ModelSettings;
  labels: string[] | undefined;
}

/** Reads and validates a settings YAML file for model `name`; throws ConfigError (E_CONFIG) listing every problem with its path. */
export async function readModelSettings(file: string, name: string): Promise<LoadedSettings> {
  const raw = readYamlMapping(file, 'settings', 'with preprocess, and optionally input, output, labels or labelsFile');
  const parsed = ModelSettingsSchema.safeParse(raw);
  // One line per issue, each formatted on its own so a '; ' inside a message cannot split it.
  if (!parsed.success) throw new ConfigError(file, parsed.error.issues.map((issue) => formatIssues([issue])));
  try {
    const labels = await loadLabels({ ...parsed.data, name }, dirname(resolve(file)));
    return { settings: parsed.data, labels };
  } catch (err) {
    throw new ConfigError(file, [`labelsFile: ${(err as Error).message}`]);
  }
}
