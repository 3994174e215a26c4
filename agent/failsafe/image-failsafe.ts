import type { PredictionStep } from '../../protocol/predictions.js';
import type { FailsafeConfig } from '../config/failsafe-schema.js';
import type { ImageStats } from '../drift/image-stats.js';
import { imageStats } from '../drift/image-stats.js';
import { AgentError } from '../errors.js';
import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';
import type { ImagePreprocessor } from '../preprocess/image.js';
import { DeadlineGate, failureReason, unusable } from './answer-check.js';
import { describeRule, firstRule } from './rules.js';

/** What the chain tells about each answer: the step that made it and why the steps before it were passed over. */
export type StepListener = (step: PredictionStep, reason: string | undefined) => void;

export interface ImageFailsafeOptions {
  primary: ImageModel;
  /** The fallback model, once loaded. */
  fallback: () => ImageModel | undefined;
  /** The serving model's preprocessing, for the image statistics the rules read when no answer carried them. */
  preprocessor: ImagePreprocessor;
  config: FailsafeConfig;
  onStep: StepListener;
}

/**
 * An image model behind its fail-safe chain: the serving model; when it errors, times out,
 * answers NaN/Inf or below `minConfidence`, the fallback model; then the rules on the
 * image's statistics; then "needs manual inspection". Every answer says which step made it.
 * A frame that cannot be decoded is the frame's fault and is refused, not passed down.
 */
export class ImageFailsafe implements ImageModel {
  private readonly primaryGate: DeadlineGate;
  private readonly fallbackGate: DeadlineGate;

  constructor(private readonly o: ImageFailsafeOptions) {
    this.primaryGate = new DeadlineGate(o.config.timeoutMs);
    this.fallbackGate = new DeadlineGate(o.config.fallback?.timeoutMs);
  }

  get name(): string {
    return this.o.primary.name;
  }

  get version(): string {
    return this.o.primary.version;
  }

  async classify(image: Buffer): Promise<Classification> {
    const { config } = this.o;
    let reason = 'timeout';
    let stats: ImageStats | undefined;
    // While a run that overran its deadline is still going, the model is passed over as timed out.
    if (!this.primaryGate.busy) {
      try {
        const answer = await this.primaryGate.run(() => this.o.primary.classify(image));
        const bad = unusable(answer, config.minConfidence);
        if (!bad) {
          this.o.onStep('model', undefined);
          return answer;
        }
        reason = bad;
        stats = answer.inputs?.image;
      } catch (err) {
        if (err instanceof AgentError && err.code === 'E_IMAGE_DECODE') throw err;
        reason = failureReason(err);
      }
    }
    const fallback = this.o.fallback();
    if (fallback && !this.fallbackGate.busy) {
      try {
        const answer = await this.fallbackGate.run(() => fallback.classify(image));
        if (!unusable(answer, config.minConfidence)) return this.answered('fallback', reason, { ...answer, inputs: undefined });
        stats ??= answer.inputs?.image;
      } catch (err) {
        if (err instanceof AgentError && err.code === 'E_IMAGE_DECODE') throw err;
      }
    }
    if (config.rules.length > 0) {
      stats ??= await this.stats(image);
      const s = stats;
      const rule = firstRule(config.rules, (r) => (r.stat ? s[r.stat] : undefined));
      if (rule) return this.answered('rule', reason, { label: rule.label, score: 1, topK: [{ label: rule.label, score: 1 }] }, describeRule(rule));
    }
    return this.answered('manual', reason, { label: config.manual.label, score: 0, topK: [] });
  }

  private answered(step: PredictionStep, reason: string, answer: Classification, rule?: string): Classification {
    this.o.onStep(step, reason);
    return { ...answer, step, fallbackReason: rule ? `${reason}; rule ${rule}` : reason };
  }

  private async stats(image: Buffer): Promise<ImageStats> {
    const p = this.o.preprocessor;
    const pre = await p.toTensor(image);
    return imageStats(pre.pixels, p.spec.width, p.spec.height, p.channels);
  }
}
