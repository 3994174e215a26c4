import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ModelSchema } from '../../agent/config/schema.js';
import { errorMessage } from '../../agent/errors.js';
import { profileImages, referenceImages } from './reference.js';
import { readModelSettings } from './settings.js';

/**
 * `edgectl profile`: the reference profile of a model that is not packed (the agent
 * config's own model, `drift.referenceFile`), measured exactly as `pack --reference` does.
 */
export async function runProfile(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { model: { type: 'string' }, settings: { type: 'string' }, reference: { type: 'string' }, out: { type: 'string' }, name: { type: 'string', default: 'model' } } }));
  } catch (err) {
    return usage(errorMessage(err));
  }
  for (const required of ['model', 'settings', 'reference', 'out'] as const) if (values[required] === undefined) return usage(`--${required} is required`);
  try {
    const { settings, labels } = await readModelSettings(values.settings!, values.name);
    const config = ModelSchema.parse({ name: values.name, path: values.model, input: settings.input, labels, preprocess: settings.preprocess, output: settings.output });
    const files = await referenceImages(values.reference!);
    const profile = await profileImages(config, files, (line) => console.error(`edgectl profile: ${line}`));
    await writeFile(values.out!, `${JSON.stringify(profile, null, 1)}\n`, { flag: 'wx' });
    console.log(`wrote ${values.out}: reference profile of ${profile.samples} images; set it as the model's drift.referenceFile`);
    return 0;
  } catch (err) {
    console.error(`edgectl profile: ${errorMessage(err)}`);
    return 1;
  }
}

function usage(message: string): number {
  console.error(`edgectl profile: ${message}\nusage: edgectl profile --model FILE.onnx --settings SETTINGS.yaml --reference DIR --out PROFILE.json [--name N]`);
  return 2;
}
