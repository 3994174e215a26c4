import type { Clock } from '../clock.js';
import type { FeedbackConfig } from '../config/feedback-schema.js';
import { type Level, LevelTracker } from '../drift/judge.js';
import type { EventSink } from '../events.js';

/** One point of the control chart: live accuracy over the window against the expected accuracy and its limits. */
export interface ChartPoint {
  ts: number;
  accuracy: number;
  labels: number;
  /** The centre line and the warn and alarm lines below it. */
  expected: number;
  warnAt: number;
  alarmAt: number;
  /** The binomial 3-sigma lower limit for this many labels, for reading how much of a dip is chance. */
  lower3Sigma: number;
  level: Level;
}

/** Precision and recall of one class over the window. */
export interface ClassFigures {
  label: string;
  predicted: number;
  actual: number;
  precision: number | null;
  recall: number | null;
}

/** One model's live accuracy, for the status JSON. */
export interface AccuracyView {
  model: string;
  labels: number;
  accuracy: number | null;
  expected: number | null;
  /** Where the expected accuracy comes from. */
  expectedFrom: 'manifest' | 'config' | null;
  level: Level;
  classes: ClassFigures[];
  chart: ChartPoint[];
}

const CHART_POINTS = 120;

/**
 * Live accuracy of one model over its latest `window` labels, judged every `every` labels
 * once `minLabels` are in: the drop below the expected accuracy goes through the same
 * warn/alarm tracker with hysteresis as data drift, and level changes are events.
 */
export class AccuracyMonitor {
  private readonly ring: Array<{ predicted: string; label: string }> = [];
  private readonly tracker: LevelTracker;
  private readonly chart: ChartPoint[] = [];
  private sinceJudged = 0;
  private alarmActive = false;

  constructor(
    readonly model: string,
    private readonly config: FeedbackConfig,
    /** The expected accuracy now (the serving version's manifest, else the config), and where it came from. */
    private readonly expected: () => { value: number; from: 'manifest' | 'config' } | undefined,
    private readonly events: EventSink,
    private readonly clock: Clock,
    private readonly onAlarm?: (active: boolean) => void,
  ) {
    this.tracker = new LevelTracker(config.recoverWindows);
  }

  /** Takes one label; `replay` fills the window after a restart without judging. */
  add(predicted: string, label: string, replay = false): void {
    this.ring.push({ predicted, label });
    if (this.ring.length > this.config.window) this.ring.shift();
    if (replay) return;
    this.sinceJudged++;
    if (this.ring.length >= this.config.minLabels && this.sinceJudged >= this.config.every) this.judge();
  }

  accuracy(): number | null {
    if (this.ring.length === 0) return null;
    let right = 0;
    for (const r of this.ring) if (r.predicted === r.label) right++;
    return right / this.ring.length;
  }

  level(): Level {
    return this.tracker.worst();
  }

  view(): AccuracyView {
    const e = this.expected();
    return { model: this.model, labels: this.ring.length, accuracy: round(this.accuracy()), expected: e?.value ?? null, expectedFrom: e?.from ?? null, level: this.level(), classes: this.classes(), chart: [...this.chart] };
  }

  private judge(): void {
    this.sinceJudged = 0;
    const e = this.expected();
    const accuracy = this.accuracy();
    if (!e || accuracy === null) return;
    const { warn, alarm } = this.config.limits;
    const drop = Math.max(0, e.value - accuracy);
    const { judged, transitions } = this.tracker.update([{ subject: 'labels.accuracy', statistic: 'drop', value: drop, limits: { warn, alarm } }]);
    const n = this.ring.length;
    const lower = e.value - 3 * Math.sqrt((e.value * (1 - e.value)) / n);
    this.chart.push({ ts: this.clock.now(), accuracy: round(accuracy)!, labels: n, expected: e.value, warnAt: round(e.value - warn)!, alarmAt: round(e.value - alarm)!, lower3Sigma: round(Math.max(0, lower))!, level: judged[0]?.level ?? 'ok' });
    if (this.chart.length > CHART_POINTS) this.chart.shift();
    for (const t of transitions) {
      const kind = t.to === 'alarm' ? 'accuracy_alarm' : t.from === 'alarm' ? 'accuracy_recovered' : t.to === 'warn' ? 'accuracy_warn' : 'accuracy_ok';
      const message = `${this.model}: live accuracy ${pct(accuracy)} over ${n} labels, expected ${pct(e.value)} (${e.from}); drop ${pct(drop)} → ${t.to} (warn ${pct(warn)}, alarm ${pct(alarm)})`;
      this.events.record({ level: t.to === 'alarm' ? 'warn' : 'info', kind, source: `accuracy:${this.model}`, message, detail: { model: this.model, accuracy, expected: e.value, expectedFrom: e.from, drop, labels: n, from: t.from, to: t.to } });
    }
    const active = this.tracker.worst() === 'alarm';
    if (active !== this.alarmActive) {
      this.alarmActive = active;
      this.onAlarm?.(active);
    }
  }

  private classes(): ClassFigures[] {
    const figures = new Map<string, { tp: number; predicted: number; actual: number }>();
    const of = (label: string) => {
      let f = figures.get(label);
      if (!f) figures.set(label, (f = { tp: 0, predicted: 0, actual: 0 }));
      return f;
    };
    for (const r of this.ring) {
      of(r.predicted).predicted++;
      of(r.label).actual++;
      if (r.predicted === r.label) of(r.label).tp++;
    }
    return [...figures].map(([label, f]) => ({ label, predicted: f.predicted, actual: f.actual, precision: f.predicted > 0 ? round(f.tp / f.predicted) : null, recall: f.actual > 0 ? round(f.tp / f.actual) : null }));
  }
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10_000) / 10_000;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)} %`;
}
