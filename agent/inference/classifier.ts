import type { ModelConfig } from '../config/schema.js';
import type { ScoredLabel } from '../../protocol/predictions.js';
import { AgentError } from '../errors.js';

export type ClassifierOutputConfig = ModelConfig['output'];
export type SoftmaxMode = ClassifierOutputConfig['softmax'];

/** What a classifier said about one frame. */
export interface Classification {
  /** The best class and its score (a probability unless softmax is `never` on raw logits). */
  readonly label: string;
  readonly score: number;
  /** The k best classes, best first; ties keep the lower class index first. */
  readonly topK: ScoredLabel[];
  /** Whether softmax was applied to the model's scores. */
  readonly softmaxApplied: boolean;
}

/**
 * How far from 1 the scores may sum and still count as probabilities. A float16 softmax
 * over 1000 classes loses about 1e-3 to rounding; logits that happen to sit in [0, 1]
 * and sum within 1% of 1 are not a case worth guarding against.
 */
export const PROBABILITY_SUM_TOLERANCE = 1e-2;

/** True when every score is in [0, 1] and they sum to 1 within the tolerance. */
export function isProbabilityDistribution(scores: ArrayLike<number>, tolerance = PROBABILITY_SUM_TOLERANCE): boolean {
  if (scores.length === 0) return false;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (!(v >= 0 && v <= 1)) return false; // NaN fails here too
    sum += v;
  }
  return Math.abs(sum - 1) <= tolerance;
}

/** Softmax of all scores, shifted by the maximum so large logits cannot overflow exp(). */
export function softmax(scores: ArrayLike<number>, out: Float32Array = new Float32Array(scores.length)): Float32Array {
  const max = maxOf(scores);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i]! - max);
  for (let i = 0; i < scores.length; i++) out[i] = Math.exp(scores[i]! - max) / sum;
  return out;
}

/**
 * Indices of the k largest scores, best first, ties by lower index. Keeps a sorted list of
 * k and skips anything below its last entry, so for small k it is one pass with no sort.
 */
export function topIndices(scores: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  const keep = Math.min(k, scores.length);
  if (keep <= 0) return best;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (best.length === keep && !(v > scores[best[keep - 1]!]!)) continue;
    let j = best.length === keep ? keep - 1 : best.length;
    while (j > 0 && scores[best[j - 1]!]! < v) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}

/** Turns one frame's class scores into labels. One per model; holds no per-frame state. */
export class Classifier {
  readonly softmax: SoftmaxMode;
  readonly topK: number;
  private readonly labels: readonly string[];

  constructor(output: Pick<ClassifierOutputConfig, 'softmax' | 'topK'>, labels: readonly string[] = []) {
    this.softmax = output.softmax;
    this.topK = output.topK;
    this.labels = labels;
  }

  /** A class's label; its index when the labels are missing, short, or blank on that line. */
  labelOf(index: number): string {
    return this.labels[index] || String(index);
  }

  /** Throws AgentError E_MODEL_OUTPUT when the scores are empty or contain NaN. */
  decode(scores: ArrayLike<number>, k: number = this.topK): Classification {
    if (scores.length === 0) throw new AgentError('E_MODEL_OUTPUT', 'model returned no scores');
    let max = -Infinity;
    for (let i = 0; i < scores.length; i++) {
      const v = scores[i]!;
      // A NaN would be committed as the best score of a part nobody looked at.
      if (Number.isNaN(v)) throw new AgentError('E_MODEL_OUTPUT', `model returned NaN for class ${i}`);
      if (v > max) max = v;
    }
    const apply = this.softmax === 'always' || (this.softmax === 'auto' && !isProbabilityDistribution(scores));
    const best = topIndices(scores, k);
    let sum = 1;
    if (apply) {
      if (!Number.isFinite(max)) throw new AgentError('E_MODEL_OUTPUT', `model returned ${max} as a score; softmax is undefined`);
      sum = 0;
      for (let i = 0; i < scores.length; i++) sum += Math.exp(scores[i]! - max);
    }
    const topK: ScoredLabel[] = best.map((i) => ({
      label: this.labelOf(i),
      score: apply ? Math.exp(scores[i]! - max) / sum : scores[i]!,
    }));
    const first = topK[0]!;
    return { label: first.label, score: first.score, topK, softmaxApplied: apply };
  }
}

function maxOf(scores: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i]! > max) max = scores[i]!;
  return max;
}
