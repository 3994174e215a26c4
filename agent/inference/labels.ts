import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ModelConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';

/**
 * The class labels of a model: `labels` as given, or `labelsFile` read one label per line
 * (relative to `baseDir`, normally the config file's folder). Undefined when the model has
 * neither; the classifier then reports class indices.
 */
export async function loadLabels(
  model: Pick<ModelConfig, 'name' | 'labels' | 'labelsFile'>,
  baseDir: string,
): Promise<string[] | undefined> {
  if (model.labels) return [...model.labels];
  if (model.labelsFile === undefined) return undefined;
  const path = resolve(baseDir, model.labelsFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new AgentError('E_MODEL_LABELS', `labels of model "${model.name}" (${path}) could not be read: ${reason}`, { cause: err });
  }
  const labels = parseLabels(text);
  if (labels.length === 0) {
    throw new AgentError('E_MODEL_LABELS', `labels of model "${model.name}" (${path}) could not be read: the file has no labels`);
  }
  return labels;
}

/**
 * One label per line, trimmed. Blank lines at the end are dropped; blank lines in the
 * middle are kept as '' because a label's line number is its class index.
 * Files written as `index,label` on every line (0, 1, 2, ... in order, as several model
 * zoos ship them) are read as the labels without the index.
 */
export function parseLabels(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((line) => line.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const indexed = lines.length > 0 && lines.every((line, i) => line.startsWith(`${i},`));
  return indexed ? lines.map((line) => line.slice(line.indexOf(',') + 1).trim()) : lines;
}
