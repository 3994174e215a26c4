import type { DriftSample } from './window.js';

/** What drift needs of a sensor model's answer. */
export interface TabularAnswer {
  label: string;
  score: number;
  topK: ReadonlyArray<{ score: number }>;
  value?: number | undefined;
  anomalyScore?: number | undefined;
}

/**
 * One feature window and the model's answer as a drift sample: the regressor's value or the
 * anomaly score as the output score, and the entropy of the class probabilities. Live windows
 * and `edgectl profile --reference CSV` both go through here, so they measure alike.
 */
export function tabularSample(features: Readonly<Record<string, number>>, result: TabularAnswer): DriftSample {
  const numeric = result.value ?? result.anomalyScore;
  let entropy = 0;
  for (const { score } of result.topK) if (score > 0 && score <= 1) entropy -= score * Math.log(score);
  return { features, label: result.label, ...(numeric === undefined ? {} : { score: numeric }), top1: result.score, entropy };
}
