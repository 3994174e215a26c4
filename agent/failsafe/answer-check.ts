import { AgentError } from '../errors.js';
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
 * `work`, or a StepTimeout after `ms` (from `startedAt`, monotonic ms). The work itself
 * cannot be cancelled (an inference runs to its end in the background); its late result or
 * error is dropped. A run that blocked the event loop past the deadline (a model run on
 * the loop's own thread) resolves before the timer can fire: its answer counts as late too.
 */
export function within<T>(work: Promise<T>, ms: number | undefined, startedAt = performance.now()): Promise<T> {
  if (ms === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepTimeout(ms)), Math.max(0, startedAt + ms - performance.now()));
    work.then(
      (v) => {
        clearTimeout(timer);
        if (performance.now() - startedAt > ms) reject(new StepTimeout(ms));
        else resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** A failed step's reason as a prediction records it: the output decoders refuse NaN and infinite scores with E_MODEL_OUTPUT. */
export function failureReason(err: unknown): 'timeout' | 'nan' | 'error' {
  if (err instanceof StepTimeout) return 'timeout';
  if (err instanceof AgentError && err.code === 'E_MODEL_OUTPUT' && /NaN|Infinity/.test(err.message)) return 'nan';
  return 'error';
}

/**
 * Runs work of one model with a deadline, and keeps count of runs that overran it and are
 * still going: while one is, the model is not asked again (its late runs would pile up on
 * the CPU), and callers go straight to their next step.
 */
export class DeadlineGate {
  private late = 0;

  constructor(private readonly ms: number | undefined) {}

  /** Whether a run that overran its deadline is still going. */
  get busy(): boolean {
    return this.late > 0;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    const running = work();
    try {
      return await within(running, this.ms, startedAt);
    } catch (err) {
      if (err instanceof StepTimeout) {
        this.late++;
        const done = () => {
          this.late--;
        };
        running.then(done, done);
      }
      throw err;
    }
  }
}
