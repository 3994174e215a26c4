import type { PredictionStep } from '../../protocol/predictions.js';
import type { FailsafeConfig } from '../config/failsafe-schema.js';
import type { TabularResult } from '../inference/tabular-decode.js';
import type { SensorModel } from '../pipeline/sensor-pipeline.js';
import { DeadlineGate, failureReason, unusable } from './answer-check.js';
import type { StepListener } from './image-failsafe.js';
import { describeRule, firstRule } from './rules.js';

/** A fallback for a sensor model: anything that predicts from the same feature row. */
export interface RowPredictor {
  predict(features: Float32Array): Promise<TabularResult>;
}

/**
 * A sensor model behind its fail-safe chain: the serving model, the fallback model, the
 * rules on the window's features (`tag.fn`), then "needs manual inspection".
 */
export class SensorFailsafe implements SensorModel {
  private readonly keys: string[];
  private readonly primaryGate: DeadlineGate;
  private readonly fallbackGate: DeadlineGate;

  constructor(
    private readonly primary: SensorModel,
    private readonly fallback: () => RowPredictor | undefined,
    private readonly failsafe: FailsafeConfig,
    private readonly onStep: StepListener,
  ) {
    this.keys = primary.config.features.map((f) => `${f.tag}.${f.fn}`);
    this.primaryGate = new DeadlineGate(failsafe.timeoutMs);
    this.fallbackGate = new DeadlineGate(failsafe.fallback?.timeoutMs);
  }

  get name(): string {
    return this.primary.name;
  }

  get version(): string {
    return this.primary.version;
  }

  get config(): SensorModel['config'] {
    return this.primary.config;
  }

  async predict(features: Float32Array): Promise<TabularResult> {
    const c = this.failsafe;
    let reason = 'timeout';
    // While a run that overran its deadline is still going, the model is passed over as timed out.
    if (!this.primaryGate.busy) {
      try {
        const answer = await this.primaryGate.run(() => this.primary.predict(features));
        const bad = this.unusable(answer);
        if (!bad) {
          this.onStep('model', undefined);
          return answer;
        }
        reason = bad;
      } catch (err) {
        reason = failureReason(err);
      }
    }
    const fallback = this.fallback();
    if (fallback && !this.fallbackGate.busy) {
      try {
        const answer = await this.fallbackGate.run(() => fallback.predict(features));
        if (!this.unusable(answer)) return this.answered('fallback', reason, answer);
      } catch {
        // on to the rules
      }
    }
    const rule = firstRule(c.rules, (r) => {
      const i = r.feature === undefined ? -1 : this.keys.indexOf(r.feature);
      return i < 0 ? undefined : features[i];
    });
    if (rule) return this.answered('rule', reason, { label: rule.label, score: 1, topK: [{ label: rule.label, score: 1 }] }, describeRule(rule));
    return this.answered('manual', reason, { label: c.manual.label, score: 0, topK: [] });
  }

  /** Regressors and anomaly scores are not probabilities: only NaN/Inf counts against them. */
  private unusable(answer: TabularResult): string | undefined {
    const kind = this.primary.config.output.kind;
    if (answer.value !== undefined && !Number.isFinite(answer.value)) return 'nan';
    if (answer.anomalyScore !== undefined && !Number.isFinite(answer.anomalyScore)) return 'nan';
    return unusable(answer, kind === 'classifier' ? this.failsafe.minConfidence : Number.NEGATIVE_INFINITY);
  }

  private answered(step: PredictionStep, reason: string, answer: TabularResult, rule?: string): TabularResult {
    this.onStep(step, reason);
    return { ...answer, step, fallbackReason: rule ? `${reason}; rule ${rule}` : reason };
  }
}
