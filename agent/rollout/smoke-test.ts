import sharp from 'sharp';
import type { Golden, ModelManifest } from '../../protocol/manifest.js';
import { errorMessage } from '../errors.js';
import type { ImageClassifierModel } from '../inference/image-model.js';
import { percentile, type Verdict } from './gates.js';

/** One warm-up round pays for lazy allocations; then each golden is timed this many times. */
const WARM_UP = 1;
const TIMED_ROUNDS = 3;

/**
 * The smoke test before a candidate meets live data: every golden sample must give its
 * recorded scores within tolerance, no score may be NaN or infinite, and (when the manifest
 * or config sets a budget) inference must fit the p99 latency budget.
 */
export async function smokeTest(model: ImageClassifierModel, manifest: ModelManifest, latencyBudgetMs: number | undefined): Promise<Verdict> {
  const inputs = manifest.goldens.length > 0 ? manifest.goldens : [await blankGolden(manifest)];
  // The fastest of a golden's timed runs is what the model costs; a gateway busy for a
  // moment must not fail a good model (probation judges the real p99 on live frames).
  const times = inputs.map(() => Infinity);
  try {
    for (let round = 0; round < WARM_UP + TIMED_ROUNDS; round++) {
      for (const [i, golden] of inputs.entries()) {
        if (golden.input.kind !== 'image') return { ok: false, reason: `golden ${i}: ${golden.input.kind} goldens are not supported by this agent's image pipeline` };
        const t0 = performance.now();
        const scores = await model.scoreVector(Buffer.from(golden.input.data, 'base64'));
        if (round >= WARM_UP) times[i] = Math.min(times[i] as number, performance.now() - t0);
        const bad = compare(scores, golden);
        if (bad) return { ok: false, reason: `golden ${i}: ${bad}` };
      }
    }
  } catch (err) {
    return { ok: false, reason: `golden run failed: ${errorMessage(err)}` };
  }
  const p99 = percentile(times, 0.99);
  if (latencyBudgetMs !== undefined && p99 > latencyBudgetMs) {
    return { ok: false, reason: `too slow: golden inference p99 ${p99.toFixed(1)} ms, budget ${latencyBudgetMs} ms` };
  }
  const checked = manifest.goldens.length > 0 ? `${manifest.goldens.length} goldens within tolerance` : 'no goldens in the manifest; a blank frame gave finite scores';
  return { ok: true, summary: `${checked}, p99 ${p99.toFixed(1)} ms` };
}

function compare(scores: Float32Array, golden: Golden): string | undefined {
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) return `score ${i} is ${scores[i]}`;
  }
  if (golden.expected.length === 0) return undefined;
  if (scores.length !== golden.expected.length) return `${scores.length} scores, ${golden.expected.length} expected`;
  for (let i = 0; i < scores.length; i++) {
    const diff = Math.abs((scores[i] ?? 0) - (golden.expected[i] ?? 0));
    if (diff > golden.tolerance) return `score ${i} is ${scores[i]}, expected ${golden.expected[i]} ± ${golden.tolerance}`;
  }
  return undefined;
}

/** A mid-grey frame of the model's input size: enough to catch NaN and crashes. */
async function blankGolden(manifest: ModelManifest): Promise<Golden> {
  const { width, height } = manifest.preprocess;
  const png = await sharp({ create: { width, height, channels: 3, background: '#808080' } }).png().toBuffer();
  return { input: { kind: 'image', data: png.toString('base64') }, expected: [], tolerance: 1 };
}
