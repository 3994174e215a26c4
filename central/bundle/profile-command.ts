import { stat, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../agent/config/load.js';
import { type ModelConfig, ModelSchema } from '../../agent/config/schema.js';
import type { TabularModelConfig } from '../../agent/config/sensor-schema.js';
import { AgentError, errorMessage } from '../../agent/errors.js';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import { profileImages, referenceImages } from './reference.js';
import { featureKeys, profileRows, referenceRows } from './reference-csv.js';
import { readModelSettings } from './settings.js';

const USAGE = `usage: edgectl profile --model FILE.onnx --settings SETTINGS.yaml --reference DIR --out PROFILE.json [--name N]
       edgectl profile --config EDGE-AGENT.yaml --name MODEL --reference DIR|FILE.csv --out PROFILE.json`;

/** The model to profile: an image model, or a sensor model of a gateway config with the folder its paths are relative to. */
type Target = { kind: 'image'; config: ModelConfig } | { kind: 'sensor'; config: TabularModelConfig; baseDir: string };

/**
 * `edgectl profile`: the reference profile of a model that is not packed (the agent
 * config's own model, `drift.referenceFile`), measured exactly as `pack --reference` does:
 * an image model over a folder of images, a sensor model over a CSV file of feature rows.
 */
export async function runProfile(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { model: { type: 'string' }, settings: { type: 'string' }, config: { type: 'string' }, reference: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' } } }));
  } catch (err) {
    return usage(errorMessage(err));
  }
  for (const required of ['reference', 'out'] as const) if (values[required] === undefined) return usage(`--${required} is required`);
  if (values.config !== undefined && (values.model !== undefined || values.settings !== undefined)) return usage('give --config, or --model and --settings, not both');
  if (values.config === undefined && (values.model === undefined || values.settings === undefined)) return usage('--config, or --model and --settings, are required');
  if (values.config !== undefined && values.name === undefined) return usage('--name names the model of --config to profile');
  const say = (line: string) => console.error(`edgectl profile: ${line}`);
  try {
    const target = values.config !== undefined ? fromConfig(values.config, values.name!) : await fromSettings(values.model!, values.settings!, values.name ?? 'model');
    const reference = values.reference!;
    let profile: ReferenceProfile;
    let what: string;
    if (target.kind === 'sensor') {
      if (await isFolder(reference)) throw new AgentError('E_REFERENCE', `--reference ${reference}: sensor model "${target.config.name}" takes a CSV file of feature rows (columns ${featureKeys(target.config).join(', ')}), not a folder`);
      profile = await profileRows(target.config, target.baseDir, await referenceRows(reference, featureKeys(target.config)), say);
      what = `${profile.samples} feature rows`;
    } else {
      profile = await profileImages(target.config, await referenceImages(reference), say);
      what = `${profile.samples} images`;
    }
    await writeFile(values.out!, `${JSON.stringify(profile, null, 1)}\n`, { flag: 'wx' });
    console.log(`wrote ${values.out}: reference profile of ${what}; set it as the model's drift.referenceFile`);
    return 0;
  } catch (err) {
    console.error(`edgectl profile: ${errorMessage(err)}`);
    return 1;
  }
}

async function fromSettings(model: string, settingsFile: string, name: string): Promise<Target> {
  const { settings, labels } = await readModelSettings(settingsFile, name);
  return { kind: 'image', config: ModelSchema.parse({ name, path: model, input: settings.input, labels, preprocess: settings.preprocess, output: settings.output }) };
}

/** The model named `name` in a gateway config: its camera models, then its sensor models. */
function fromConfig(file: string, name: string): Target {
  const { config, baseDir } = loadConfig(file);
  const image = config.models.find((m) => m.name === name);
  if (image) return { kind: 'image', config: image };
  const sensor = config.sensorModels.find((m) => m.name === name);
  if (sensor) return { kind: 'sensor', config: sensor, baseDir };
  const names = [...config.models, ...config.sensorModels].map((m) => `"${m.name}"`);
  throw new AgentError('E_REFERENCE', `${file} has no model named "${name}" (it has ${names.join(', ') || 'none'})`);
}

async function isFolder(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

function usage(message: string): number {
  console.error(`edgectl profile: ${message}\n${USAGE}`);
  return 2;
}
