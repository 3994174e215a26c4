import type { ShadowObserver } from '../inference/serving-model.js';
import type { Classification } from '../pipeline/image-pipeline.js';

/** A gate's judgement: passed, or failed with the reason that goes into the report. */
export type Verdict = { ok: true; summary: string } | { ok: false; reason: string };

/** Errors that are the input's fault, not the model's: they do not count against a model. */
const INPUT_ERRORS = new Set(['E_IMAGE_DECODE']);

function isModelError(err: Error): boolean {
  return !INPUT_ERRORS.has((err as { code?: string }).code ?? '');
}

/** The value below which `q` of the values lie (nearest rank). */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

/**
 * Shadow: the candidate answers the same live inputs as the serving model. It passes when,
 * over `count` inputs, the two agree on the top label often enough and the candidate never
 * failed. The serving model's mean confidence is kept as the baseline for probation.
 */
export class ShadowGate implements ShadowObserver {
  private seen = 0;
  private agreed = 0;
  private failure: string | undefined;
  private servingConfidence = 0;
  private readonly settled: Promise<Verdict>;
  private settle: (v: Verdict) => void = () => {};

  constructor(private readonly count: number, private readonly minAgreement: number) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
    if (count === 0) this.settle({ ok: true, summary: 'shadow skipped (count 0)' });
  }

  /** Mean top-1 confidence of the serving model over the inputs seen. */
  get baselineConfidence(): number {
    return this.seen === 0 ? 0 : this.servingConfidence / this.seen;
  }

  observe(serving: Classification, candidate: Classification | Error): void {
    if (this.seen >= this.count) return;
    if (candidate instanceof Error) {
      if (!isModelError(candidate)) return;
      this.failure ??= `the candidate failed on a live input: ${candidate.message}`;
      return this.settle({ ok: false, reason: this.failure });
    }
    this.seen++;
    this.servingConfidence += serving.score;
    if (serving.label === candidate.label) this.agreed++;
    if (this.seen < this.count) return;
    const agreement = this.agreed / this.seen;
    if (agreement + 1e-9 < this.minAgreement) {
      this.settle({ ok: false, reason: `the candidate agreed with the serving model on ${(agreement * 100).toFixed(0)}% of ${this.seen} live inputs; ${(this.minAgreement * 100).toFixed(0)}% needed` });
    } else {
      this.settle({ ok: true, summary: `agreement ${(agreement * 100).toFixed(0)}% over ${this.seen} live inputs` });
    }
  }

  /** Resolves with the verdict once `count` inputs were compared or the candidate failed. */
  verdict(): Promise<Verdict> {
    return this.settled;
  }
}

export interface ProbationLimits {
  count: number;
  maxErrorRate: number;
  /** Mean top-1 confidence below this fails (0: no check). */
  minMeanConfidence: number;
  /** p99 inference latency above this fails (undefined: no check). */
  latencyP99Ms: number | undefined;
}

/**
 * Probation: the new model serves, and over `count` answers its error rate (failures,
 * NaN/Inf outputs), p99 latency and mean confidence must stay within limits.
 */
export class ProbationGate {
  private answers = 0;
  private errors = 0;
  private slow = 0;
  private confidence = 0;
  private readonly latencies: number[] = [];
  private lastError = '';
  private readonly settled: Promise<Verdict>;
  private settle: (v: Verdict) => void = () => {};

  constructor(private readonly limits: ProbationLimits) {
    this.settled = new Promise((resolve) => (this.settle = resolve));
    if (limits.count === 0) this.settle({ ok: true, summary: 'probation skipped (count 0)' });
  }

  record(outcome: Classification | Error, ms: number): void {
    if (this.answers >= this.limits.count) return;
    if (outcome instanceof Error) {
      if (!isModelError(outcome)) return;
      this.errors++;
      this.lastError = outcome.message;
    } else {
      this.confidence += outcome.score;
      this.latencies.push(ms);
      if (this.limits.latencyP99Ms !== undefined && ms > this.limits.latencyP99Ms) this.slow++;
    }
    this.answers++;
    // Fail early once more answers are over budget than the window's p99 allows: a slow
    // model holds the line up for every frame it stays.
    if (this.slow > this.limits.count * 0.01) {
      return this.settle({ ok: false, reason: `too slow: ${this.slow} of ${this.answers} inferences over the p99 budget of ${this.limits.latencyP99Ms} ms (slowest ${Math.max(...this.latencies).toFixed(1)} ms)` });
    }
    // Fail early once the error budget for the whole window is spent.
    if (this.errors > this.limits.maxErrorRate * this.limits.count) {
      return this.settle({ ok: false, reason: `${this.errors} of ${this.answers} inferences failed (${this.lastError}); at most ${(this.limits.maxErrorRate * 100).toFixed(1)}% allowed` });
    }
    if (this.answers >= this.limits.count) this.settle(this.judge());
  }

  verdict(): Promise<Verdict> {
    return this.settled;
  }

  private judge(): Verdict {
    const good = this.answers - this.errors;
    const mean = good === 0 ? 0 : this.confidence / good;
    const p99 = percentile(this.latencies, 0.99);
    const { minMeanConfidence, latencyP99Ms } = this.limits;
    if (mean < minMeanConfidence) {
      return { ok: false, reason: `confidence collapsed: mean top-1 ${mean.toFixed(3)} over ${good} answers, below ${minMeanConfidence.toFixed(3)}` };
    }
    if (latencyP99Ms !== undefined && p99 > latencyP99Ms) {
      return { ok: false, reason: `too slow: p99 inference ${p99.toFixed(1)} ms over ${good} answers, budget ${latencyP99Ms} ms` };
    }
    return { ok: true, summary: `${this.answers} answers, ${this.errors} errors, mean confidence ${mean.toFixed(3)}, p99 ${p99.toFixed(1)} ms` };
  }
}
