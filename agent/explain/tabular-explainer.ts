import type { ShapleyValues } from '../../protocol/explanations.js';
import type { Turn } from './occlusion.js';
import type { RowModel } from './row-model.js';
import { shapleyValues } from './shapley.js';

export interface RowExplainSettings {
  exactUpTo: number;
  samples: number;
  /** Model rows per run. */
  batchRows: number;
  random: () => number;
}

/** Shapley values of one row for one output column of `model`, every model run inside `turn`. */
export async function explainRow(
  model: RowModel,
  row: readonly number[],
  names: readonly string[],
  target: { column: number; output: string },
  background: readonly (readonly number[])[],
  s: RowExplainSettings,
  turn: Turn,
): Promise<ShapleyValues> {
  const r = await shapleyValues(row, model.column(target.column), { background, exactUpTo: s.exactUpTo, samples: s.samples, batchRows: s.batchRows, random: s.random, turn });
  return {
    features: [...names],
    values: r.values,
    baseValue: r.baseValue,
    prediction: r.prediction,
    output: target.output,
    exact: r.exact,
    coalitions: r.coalitions,
    backgroundRows: background.length,
  };
}

/**
 * Which output column a prediction's label is: a configured label's index, a probability
 * map's key, or a numeric class id; 0 for regressors and anomaly scores.
 */
export function outputColumn(label: string, kind: string, labels: readonly string[] | undefined, mapLabels: readonly string[] | undefined): number {
  if (kind !== 'classifier') return 0;
  const configured = labels?.indexOf(label) ?? -1;
  if (configured >= 0) return configured;
  const mapped = mapLabels?.indexOf(label) ?? -1;
  if (mapped >= 0) return mapped;
  const n = Number(label);
  if (Number.isInteger(n) && n >= 0) return n;
  throw new Error(`cannot tell which output column label "${label}" is`);
}
