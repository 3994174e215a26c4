import type { PredictionStep } from '../../protocol/predictions.js';
import type { Clock } from '../clock.js';
import type { EventSink } from '../events.js';
import { SlidingCount } from '../metrics/sliding-count.js';

/** One model's fail-safe figures, for the status JSON, Prometheus and the health verdict. */
export interface FailsafeView {
  model: string;
  /** Predictions by the step that made them, since start. */
  steps: Record<PredictionStep, number>;
  /** Share of predictions over the last `windowS` not made by the serving model. */
  fallbackShare: number;
  windowS: number;
  /** The share above which the agent is degraded. */
  degradedShare: number;
  /** Whether the latest prediction needed manual inspection. */
  manualNow: boolean;
}

/**
 * Counts one model's predictions per fail-safe step, all-time and over a sliding window,
 * and records an event when the model starts needing its fallbacks and when it stops.
 */
export class StepTally {
  readonly steps: Record<PredictionStep, number> = { model: 0, fallback: 0, rule: 0, manual: 0 };
  private readonly all: SlidingCount;
  private readonly fallbacks: SlidingCount;
  private engaged = false;
  manualNow = false;

  constructor(
    private readonly model: string,
    private readonly windowS: number,
    private readonly degradedShare: number,
    private readonly clock: Clock,
    private readonly events: EventSink,
  ) {
    const now = clock.monotonic();
    this.all = new SlidingCount(now, windowS);
    this.fallbacks = new SlidingCount(now, windowS);
  }

  add(step: PredictionStep, reason: string | undefined): void {
    const now = this.clock.monotonic();
    this.steps[step]++;
    this.all.add(now);
    this.manualNow = step === 'manual';
    if (step === 'model') {
      if (this.engaged) {
        this.engaged = false;
        this.events.record({ level: 'info', kind: 'failsafe_recovered', source: `failsafe:${this.model}`, message: `${this.model}: the serving model answers again`, detail: { model: this.model } });
      }
      return;
    }
    this.fallbacks.add(now);
    if (!this.engaged) {
      this.engaged = true;
      this.events.record({ level: 'warn', kind: 'failsafe_engaged', source: `failsafe:${this.model}`, message: `${this.model}: serving model unusable (${reason ?? 'unknown'}); answering with the ${step} step`, detail: { model: this.model, step, reason } });
    }
  }

  share(): number {
    const now = this.clock.monotonic();
    const all = this.all.total(now);
    return all === 0 ? 0 : this.fallbacks.total(now) / all;
  }

  view(): FailsafeView {
    return { model: this.model, steps: { ...this.steps }, fallbackShare: Math.round(this.share() * 10_000) / 10_000, windowS: this.windowS, degradedShare: this.degradedShare, manualNow: this.manualNow };
  }
}
