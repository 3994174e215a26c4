/** Which predictions a model explains; the `models[].explain` config. */
export interface ExplainPolicyConfig {
  /** Labels explained every time (defect, anomaly, reject). */
  classes: readonly string[];
  /** Explain every prediction while a drift or data alarm is active for the model. */
  onAlarm: boolean;
  /** Share of the remaining predictions explained, picked at random. */
  sampleRate: number;
}

export type ExplainReason = 'class' | 'alarm' | 'sample';

/** Decides, per prediction, whether it is worth an explanation and why. */
export class ExplainPolicy {
  private alarm = false;

  constructor(
    private readonly config: ExplainPolicyConfig,
    private readonly random: () => number = Math.random,
  ) {}

  /** Called by whoever judges drift and data quality: while active, every prediction is explained. */
  setAlarm(active: boolean): void {
    this.alarm = active;
  }

  get alarmActive(): boolean {
    return this.alarm;
  }

  reason(label: string): ExplainReason | undefined {
    if (this.config.classes.includes(label)) return 'class';
    if (this.alarm && this.config.onAlarm) return 'alarm';
    if (this.config.sampleRate > 0 && this.random() < this.config.sampleRate) return 'sample';
    return undefined;
  }
}
