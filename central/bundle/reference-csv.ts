import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { TabularModelConfig } from '../../agent/config/sensor-schema.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { tabularSample } from '../../agent/drift/tabular-sample.js';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { TabularModel } from '../../agent/inference/tabular-model.js';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import { MIN_REFERENCE_SAMPLES } from './reference.js';

/** Largest reference CSV read: a few hundred thousand rows of a few dozen features. */
const MAX_CSV_BYTES = 256 * 1024 * 1024;

/** The agent's name for a feature column: `<tag>.<fn>`, as in a live feature window. */
export function featureKeys(config: Pick<TabularModelConfig, 'features'>): string[] {
  return config.features.map((f) => `${f.tag}.${f.fn}`);
}

/**
 * Reads reference feature rows from a CSV file with a header row. The header must name every
 * feature of the model as the agent does (`vibration.mean`); other columns (a timestamp, a
 * part id) are ignored. Every cell of a feature column must be a finite number: a reference
 * set must be clean, so a bad cell is a refusal naming its row and column.
 */
export async function referenceRows(file: string, keys: readonly string[]): Promise<Float32Array[]> {
  const refuse = (reason: string) => new AgentError('E_REFERENCE', `--reference ${file}: ${reason}`);
  let text: Buffer;
  try {
    text = await readFile(file);
  } catch (err) {
    throw refuse(errorMessage(err));
  }
  if (text.length > MAX_CSV_BYTES) throw refuse(`${text.length} bytes; at most ${MAX_CSV_BYTES} are read`);
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true }) as string[][];
  } catch (err) {
    throw refuse(`not a CSV file: ${errorMessage(err)}`);
  }
  const header = records[0] ?? [];
  const columns = keys.map((k) => header.indexOf(k));
  const missing = keys.filter((_, i) => columns[i]! < 0);
  if (missing.length > 0) throw refuse(`the header has no column ${missing.map((m) => `"${m}"`).join(', ')} (it has ${header.map((h) => `"${h}"`).join(', ') || 'none'})`);
  const rows: Float32Array[] = [];
  for (let r = 1; r < records.length; r++) {
    const record = records[r]!;
    const row = new Float32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const cell = record[columns[i]!] ?? '';
      const value = cell === '' ? Number.NaN : Number(cell);
      if (!Number.isFinite(value)) throw refuse(`line ${r + 1}, column "${keys[i]}": "${cell}" is not a number`);
      row[i] = value;
    }
    rows.push(row);
  }
  if (rows.length < MIN_REFERENCE_SAMPLES) throw refuse(`${rows.length} rows; a reference profile needs at least ${MIN_REFERENCE_SAMPLES}`);
  return rows;
}

/**
 * Runs a sensor model over reference feature rows with the agent's own code and returns the
 * profile its drift is judged against: per-feature histograms, the answers and confidence
 * measured as the agent measures a live window (agent/drift/drift-set.ts).
 */
export async function profileRows(config: TabularModelConfig, baseDir: string, rows: readonly Float32Array[], progress: (line: string) => void = () => undefined): Promise<ReferenceProfile> {
  const keys = featureKeys(config);
  const model = await TabularModel.load(config, baseDir);
  try {
    const builder = new ProfileBuilder({ ...(config.labels ? { labels: config.labels } : {}) });
    const features: Record<string, number> = {};
    let decile = 0;
    for (const [r, row] of rows.entries()) {
      const result = await model.predict(row);
      for (let i = 0; i < keys.length; i++) features[keys[i]!] = row[i]!;
      builder.add(tabularSample(features, result));
      const reached = Math.floor(((r + 1) * 10) / rows.length);
      if (reached > decile) progress(`reference: ${(decile = reached) * 10}% (${r + 1}/${rows.length} rows)`);
    }
    return builder.build();
  } finally {
    await model.release();
  }
}
