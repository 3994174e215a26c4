import type { OcclusionMap } from '../../protocol/explanations.js';
import type { ImageClassifierModel } from '../inference/image-model.js';
import { occlusionMap, type Turn } from './occlusion.js';
import { heatOverlay } from './overlay.js';
import { quantise } from './quantise.js';

export interface OcclusionSettings {
  grid: number;
  maxPatch: number;
  fill: 'mean' | 'blur';
  overlay: boolean;
  /** Perturbed inputs per run when the model takes batches. */
  batchSize: number;
}

/**
 * The occlusion map of one image under one model: the predicted class (the model's best on
 * the whole image) is the class watched. Every model run goes through `turn`.
 */
export async function explainImage(model: ImageClassifierModel, image: Buffer, s: OcclusionSettings, turn: Turn): Promise<OcclusionMap> {
  const pre = await turn(() => model.preprocess(image));
  const [scores] = await turn(() => model.scoreInputs([pre.tensor]));
  if (!scores || scores.length === 0) throw new Error('the model gave no scores');
  // Whether the model takes batches is found out once, on two copies of this input, so that
  // afterwards a model with a fixed batch of 1 spends exactly one run per turn.
  if (model.batched === undefined) await turn(() => model.scoreInputs([pre.tensor, pre.tensor]));
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  const result = await occlusionMap(
    { tensor: pre.tensor, layout: model.inputLayout },
    {
      rows: s.grid,
      cols: s.grid,
      patch: 1,
      maxPatch: s.maxPatch,
      fill: s.fill,
      batchSize: model.batched === true ? s.batchSize : 1,
      classIndex: best,
      baseScore: scores[best]!,
      score: (inputs) => model.scoreInputs(inputs),
      turn,
    },
  );
  const q = quantise(result.drops);
  return {
    rows: s.grid,
    cols: s.grid,
    heat: q.heat,
    min: q.min,
    max: q.max,
    label: model.labelOf(best),
    classIndex: best,
    score: scores[best]!,
    fill: s.fill,
    runs: result.runs + 1,
    batched: model.batched === true,
    ...(s.overlay ? { overlay: await turn(() => heatOverlay(image, result.drops, s.grid, s.grid)) } : {}),
  };
}
