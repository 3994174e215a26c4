import { basename, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { DatasetRefSchema, LineageSchema, type DatasetRef, type Lineage } from '../../protocol/lineage.js';
import { formatIssues } from '../../protocol/parse.js';
import { digestFile, type ProgressSink } from './artifact-file.js';

/*
 * The `lineage` key of a pack settings file: the manifest's lineage without who packed it
 * and when (pack fills those in), where a dataset may be given as a file that pack hashes
 * instead of a checksum someone copied by hand.
 */

/** A dataset as settings give it: a file to hash (path relative to the settings file), or a name and checksum. */
export const DatasetSettingSchema = z.union([
  z.strictObject({ file: z.string().min(1), name: z.string().min(1).max(200).optional(), uri: z.string().max(2048).optional() }),
  DatasetRefSchema,
]);
export type DatasetSetting = z.infer<typeof DatasetSettingSchema>;

const lineageShape = LineageSchema.shape;

export const LineageSettingsSchema = z.strictObject({
  training: z.strictObject({ datasets: z.array(DatasetSettingSchema).min(1).max(64) }).optional(),
  code: lineageShape.code,
  hyperparameters: lineageShape.hyperparameters,
  validation: z.strictObject({ dataset: DatasetSettingSchema, metrics: z.record(z.string(), z.number().finite()) }).optional(),
});
export type LineageSettings = z.infer<typeof LineageSettingsSchema>;

/** What `edgectl pack` flags add to or override in the settings' lineage. */
export interface LineageFlags {
  /** --commit */
  commit?: string;
  /** --training-data FILE..., added to the settings' datasets. */
  trainingFiles?: readonly string[];
  /** --validation-data FILE, replaces the settings' validation dataset. */
  validationFile?: string;
  /** --metric NAME=VALUE..., over the settings' metrics. */
  metrics?: Readonly<Record<string, number>>;
}

/**
 * The manifest's lineage from the settings (files relative to baseDir) and the flags (files
 * relative to the working folder), with packedBy and packedAt; throws E_LINEAGE naming the
 * part that is wrong (a dataset file that cannot be read, metrics without a dataset ...).
 */
export async function resolveLineage(
  settings: LineageSettings | undefined,
  flags: LineageFlags,
  baseDir: string,
  packed: { by: string; at: string },
  progress?: ProgressSink,
): Promise<Lineage> {
  const dataset = (d: DatasetSetting, base: string) => datasetRef(d, base, progress);
  const training = [
    ...(await Promise.all((settings?.training?.datasets ?? []).map((d) => dataset(d, baseDir)))),
    ...(await Promise.all((flags.trainingFiles ?? []).map((file) => dataset({ file }, '.')))),
  ];
  const validationSetting = flags.validationFile !== undefined ? { file: flags.validationFile } : settings?.validation?.dataset;
  const validationBase = flags.validationFile !== undefined ? '.' : baseDir;
  const metrics = { ...settings?.validation?.metrics, ...flags.metrics };
  if (validationSetting === undefined && Object.keys(metrics).length > 0) {
    throw new AgentError('E_LINEAGE', 'lineage: validation metrics need the dataset they were measured on (settings lineage.validation.dataset or --validation-data FILE)');
  }
  if (validationSetting !== undefined && Object.keys(metrics).length === 0) {
    throw new AgentError('E_LINEAGE', 'lineage: a validation dataset without metrics (settings lineage.validation.metrics or --metric NAME=VALUE)');
  }
  const commit = flags.commit ?? settings?.code?.commit;
  const candidate = {
    ...(training.length > 0 ? { training: { datasets: training } } : {}),
    ...(commit !== undefined ? { code: { ...settings?.code, commit } } : {}),
    ...(settings?.hyperparameters ? { hyperparameters: settings.hyperparameters } : {}),
    ...(validationSetting !== undefined ? { validation: { dataset: await dataset(validationSetting, validationBase), metrics } } : {}),
    packedBy: packed.by,
    packedAt: packed.at,
  };
  const parsed = LineageSchema.safeParse(candidate);
  if (!parsed.success) throw new AgentError('E_LINEAGE', `lineage: ${formatIssues(parsed.error.issues)}`);
  return parsed.data;
}

async function datasetRef(d: DatasetSetting, baseDir: string, progress?: ProgressSink): Promise<DatasetRef> {
  if (!('file' in d)) return d;
  const path = isAbsolute(d.file) ? d.file : resolve(baseDir, d.file);
  let digest;
  try {
    digest = await digestFile(path, basename(path), progress);
  } catch (err) {
    throw new AgentError('E_LINEAGE', `lineage: dataset: ${errorMessage(err)}`, { cause: err });
  }
  return { name: d.name ?? basename(path), sha256: digest.sha256, bytes: digest.bytes, ...(d.uri !== undefined ? { uri: d.uri } : {}) };
}

/** Parses "--metric accuracy=0.97" values; throws a TypeError naming the bad one. */
export function parseMetricFlags(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(.+)$/.exec(v);
    const value = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(value)) throw new TypeError(`--metric must be NAME=NUMBER such as accuracy=0.97, got "${v}"`);
    out[m[1]!] = value;
  }
  return out;
}
