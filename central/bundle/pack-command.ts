import { parseArgs } from 'node:util';
import { errorMessage } from '../../agent/errors.js';
import { ARCHES, MODEL_NAME_PATTERN, MODEL_TASKS, ModelVersionSchema } from '../../protocol/manifest.js';
import { isSemver } from '../../protocol/semver.js';
import { KEY_ID_PATTERN } from '../../protocol/signing.js';
import { keyIdOfFile, loadSigner } from '../keys/signer.js';
import { parseMetricFlags } from './lineage.js';
import { packModel, type PackOptions } from './pack.js';
import { referenceImages } from './reference.js';

const PACK_USAGE = `usage: edgectl pack --model FILE.onnx --name N --version V --counter C --settings SETTINGS.yaml
                    --key KEYFILE [--key-id ID] --out DIR [--golden IMAGE]... [--reference DIR] [--url-base URL] [--expires-in 90d]
                    [--arch x64,arm64] [--task classification] [--min-agent-version V] [--tolerance T] [--notes TEXT]
                    [--packed-by WHO] [--commit SHA] [--training-data FILE]... [--validation-data FILE] [--metric NAME=VALUE]...`;

const DURATION_UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `edgectl pack`: packs and signs a model bundle; progress on stderr, the summary on stdout; returns the exit code. */
export async function runPack(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        name: { type: 'string' },
        version: { type: 'string' },
        counter: { type: 'string' },
        settings: { type: 'string' },
        key: { type: 'string' },
        'key-id': { type: 'string' },
        out: { type: 'string' },
        golden: { type: 'string', multiple: true, default: [] },
        reference: { type: 'string' },
        'url-base': { type: 'string' },
        'expires-in': { type: 'string', default: '90d' },
        arch: { type: 'string', default: ARCHES.join(',') },
        task: { type: 'string', default: 'classification' },
        'min-agent-version': { type: 'string' },
        tolerance: { type: 'string' },
        notes: { type: 'string' },
        'packed-by': { type: 'string' },
        commit: { type: 'string' },
        'training-data': { type: 'string', multiple: true, default: [] },
        'validation-data': { type: 'string' },
        metric: { type: 'string', multiple: true, default: [] },
      },
    }));
  } catch (err) {
    return usageError(errorMessage(err));
  }
  for (const required of ['model', 'name', 'version', 'counter', 'settings', 'key', 'out'] as const) {
    if (values[required] === undefined) return usageError(`--${required} is required`);
  }
  const { model, name, version, counter, settings, key, out } = values as Required<Pick<typeof values, 'model' | 'name' | 'version' | 'counter' | 'settings' | 'key' | 'out'>>;
  if (!MODEL_NAME_PATTERN.test(name)) return usageError(`--name must be letters, digits, . _ - (at most 64, starting with a letter or digit), got "${name}"`);
  if (!ModelVersionSchema.safeParse(version).success) return usageError(`--version must be a semantic version without +build such as 1.4.0, got "${version}"`);
  if (!/^[1-9]\d{0,15}$/.test(counter) || !Number.isSafeInteger(Number(counter))) return usageError(`--counter must be a positive whole number, got "${counter}"`);
  const keyId = values['key-id'] ?? keyIdOfFile(key);
  if (!KEY_ID_PATTERN.test(keyId)) return usageError(`--key-id must be letters, digits, . _ - only (1 to 64), got "${keyId}"`);
  const expires = /^([1-9]\d{0,5})([smhd])$/.exec(values['expires-in']);
  if (!expires) return usageError(`--expires-in must be a number and a unit s, m, h or d (e.g. 90d), got "${values['expires-in']}"`);
  const arch = values.arch.split(',').map((a) => a.trim());
  if (!arch.every((a) => isOneOf(ARCHES, a)) || new Set(arch).size !== arch.length) {
    return usageError(`--arch must be a comma-separated list of ${ARCHES.join(', ')}, got "${values.arch}"`);
  }
  const task = values.task;
  if (!isOneOf(MODEL_TASKS, task)) return usageError(`--task must be one of ${MODEL_TASKS.join(', ')}, got "${task}"`);
  const urlBase = values['url-base'];
  if (urlBase !== undefined && !/^https?:\/\/[^/]/.test(urlBase)) return usageError(`--url-base must be an http:// or https:// URL, got "${urlBase}"`);
  const minAgentVersion = values['min-agent-version'];
  if (minAgentVersion !== undefined && !isSemver(minAgentVersion)) return usageError(`--min-agent-version must be a semantic version, got "${minAgentVersion}"`);
  const commit = values.commit;
  if (commit !== undefined && !/^[0-9a-f]{7,64}$/.test(commit)) return usageError(`--commit must be a git commit id (7 to 64 lowercase hex digits), got "${commit}"`);
  let metrics: Record<string, number>;
  try {
    metrics = parseMetricFlags(values.metric);
  } catch (err) {
    return usageError(errorMessage(err));
  }
  const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
  if (tolerance !== undefined && !(tolerance > 0 && Number.isFinite(tolerance))) return usageError(`--tolerance must be a positive number, got "${values.tolerance}"`);

  try {
    const loaded = await loadSigner(key, keyId);
    if (loaded.warning) console.error(`edgectl pack: warning: ${loaded.warning}`);
    const opts: PackOptions = {
      modelFile: model,
      name,
      version,
      counter: Number(counter),
      settingsFile: settings,
      signer: loaded.signer,
      outDir: out,
      goldenFiles: values.golden,
      expiresInMs: Number(expires[1]) * DURATION_UNITS_MS[expires[2]!]!,
      arch: arch.filter((a) => isOneOf(ARCHES, a)),
      task,
      progress: (line) => console.error(`edgectl pack: ${line}`),
    };
    if (urlBase !== undefined) opts.urlBase = urlBase;
    if (values.reference !== undefined) opts.referenceFiles = await referenceImages(values.reference);
    if (minAgentVersion !== undefined) opts.minAgentVersion = minAgentVersion;
    if (tolerance !== undefined) opts.tolerance = tolerance;
    if (values.notes !== undefined) opts.notes = values.notes;
    if (values['packed-by'] !== undefined) opts.packedBy = values['packed-by'];
    opts.lineage = { trainingFiles: values['training-data'], metrics, ...(commit !== undefined ? { commit } : {}), ...(values['validation-data'] !== undefined ? { validationFile: values['validation-data'] } : {}) };
    const result = await packModel(opts);
    for (const warning of result.warnings) console.error(`edgectl pack: warning: ${warning}`);
    const m = result.manifest;
    const artifact = m.artifacts[0]!;
    console.log(
      [
        `packed ${m.name} ${m.version} (counter ${m.counter}) into ${result.dir}`,
        `  manifest.json  signed by "${keyId}" (fingerprint ${loaded.fingerprint}), expires ${m.expiresAt}`,
        `  ${artifact.path.padEnd(13)}  ${artifact.bytes} bytes, sha256 ${artifact.sha256}`,
        `  goldens        ${m.goldens.length}${m.goldens[0] ? `, tolerance ${m.goldens[0].tolerance}` : ''}`,
        `  lineage        packed by ${m.lineage?.packedBy} at ${m.lineage?.packedAt}${m.lineage?.code ? `, commit ${m.lineage.code.commit}` : ''}, ${m.lineage?.training?.datasets.length ?? 0} training dataset(s)${m.lineage?.validation ? `, ${Object.keys(m.lineage.validation.metrics).length} validation metric(s) on ${m.lineage.validation.dataset.name}` : ''}`,
        `  reference      ${m.referenceProfile ? `${m.referenceProfile.samples} samples (drift profile)` : 'none (drift is not watched for this version)'}`,
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    console.error(`edgectl pack: ${errorMessage(err)}`);
    return 1;
  }
}

function isOneOf<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

function usageError(message: string): number {
  console.error(`edgectl pack: ${message}\n${PACK_USAGE}`);
  return 2;
}
