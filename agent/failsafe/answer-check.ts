import type { ScoredLabel } from '../../protocol/predictions.js';

/** Why an answer is not used, when it is not: it has a NaN or infinite score, or its top score is too low. */
export function unusable(answer: { score: number; topK: readonly ScoredLabel[] }, minConfidence: number): 'nan' | 'low-confidence' | undefined {
  if (!Number.isFinite(answer.score)) return 'nan';
  for (const k of answer.topK) if (!Number.isFinite(k.score)) return 'nan';
  return answer.score < minConfidence ? 'low-confidence' : undefined;
}

/** Thrown by `within` when the work took longer than allowed. */
export class StepTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/**
 * `work`, or a StepTimeout after `ms`. The work itself cannot be cancelled (an inference
 * runs to its end in the background); its late result or error is dropped.
 */
export function within<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepTimeout(ms)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** A failed step's reason as a prediction records it. */
export function failureReason(err: unknown): 'timeout' | 'error' {
  return err instanceof StepTimeout ? 'timeout' : 'error';
}
