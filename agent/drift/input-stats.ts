import { type ImageStats, imageStats } from './image-stats.js';

/** What an image model's answer carries for drift: the input's statistics and the answer's entropy. */
export interface InputStats {
  image: ImageStats;
  entropy: number;
}

/** Input statistics of one inference: the resized pixels, and the entropy of the scores (softmaxed when the model's output needs it). */
export function inputStats(pixels: Uint8Array, width: number, height: number, channels: 1 | 3, scores: ArrayLike<number>, softmaxApplied: boolean): InputStats {
  return { image: imageStats(pixels, width, height, channels), entropy: entropy(scores, softmaxApplied) };
}

/** Entropy (natural log) of a score vector read as probabilities, after softmax when asked. */
export function entropy(scores: ArrayLike<number>, softmax: boolean): number {
  if (!softmax) {
    let h = 0;
    for (let i = 0; i < scores.length; i++) {
      const p = scores[i]!;
      if (p > 0) h -= p * Math.log(p);
    }
    return h;
  }
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) max = Math.max(max, scores[i]!);
  let z = 0;
  let weighted = 0;
  for (let i = 0; i < scores.length; i++) {
    const e = Math.exp(scores[i]! - max);
    z += e;
    weighted += e * (scores[i]! - max);
  }
  // H = log Z − Σ p_i (s_i − max), with p_i = e^(s_i − max) / Z.
  return Math.log(z) - weighted / z;
}
