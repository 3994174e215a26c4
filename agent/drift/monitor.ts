import type { Logger } from 'pino';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import type { SampleStore } from '../buffer/samples.js';
import type { Clock } from '../clock.js';
import type { DriftConfig } from '../config/drift-schema.js';
import type { EventSink } from '../events.js';
import { type Judged, LevelTracker, type Level, type Transition } from './judge.js';
import type { DriftWindowStore } from './window-store.js';
import { DriftWindow, type DriftSample } from './window.js';

/** The input behind a sample, kept when capture asks for it. */
export interface CapturedInput {
  source: string;
  frameId: string;
  mediaType: string;
  data: Buffer;
  /** Resolves with the prediction's sequence number once committed. */
  seq: Promise<number>;
}

export interface DriftMonitorOptions {
  model: string;
  /** The version serving now (it changes with a rollout). */
  version: () => string;
  profile: ReferenceProfile;
  config: DriftConfig;
  windows: DriftWindowStore;
  samples: SampleStore | undefined;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** Told when the model's drift alarm starts and ends (explanations, LED). */
  onAlarm?: (active: boolean) => void;
}

/** Where a model's drift stands, for the status page and the LED. */
export interface DriftState {
  model: string;
  level: Level;
  alarms: Array<{ subject: string; statistic: string; value: number }>;
  windows: number;
  lastWindow: { endedAt: number; samples: number; stats: Judged[] } | undefined;
  samplesInWindow: number;
  captured: number;
}

/**
 * Watches one model's inputs and outputs against its reference profile: windows by count
 * or time, every statistic judged with hysteresis, each window stored, level changes as
 * events, inputs captured for retraining, and a `retrain_requested` event when an alarm
 * outlasts `retrainAfterWindows` windows.
 */
export class DriftMonitor {
  private readonly window: DriftWindow;
  private readonly tracker: LevelTracker;
  private startedAt: number;
  private startedMono: number;
  private windows = 0;
  private alarmWindows = 0;
  private capturedInWindow = 0;
  private captured = 0;
  private readonly capturedIds: number[] = [];
  private last: DriftState['lastWindow'];
  private alarmActive = false;

  constructor(private readonly opts: DriftMonitorOptions) {
    const L = opts.config.limits;
    this.window = new DriftWindow(opts.profile, { ...L, chiSquareP: { ...L.chiSquareP, lowerIsWorse: true } });
    this.tracker = new LevelTracker(opts.config.recoverWindows);
    this.startedAt = opts.clock.now();
    this.startedMono = opts.clock.monotonic();
  }

  observe(sample: DriftSample, input?: CapturedInput): void {
    this.window.add(sample);
    if (input) this.maybeCapture(sample, input);
    const { count, seconds } = this.opts.config.window;
    const timeUp = seconds !== undefined && this.opts.clock.monotonic() - this.startedMono >= seconds * 1000;
    if (this.window.n >= count || timeUp) this.closeWindow();
  }

  state(): DriftState {
    return {
      model: this.opts.model,
      level: this.tracker.worst(),
      alarms: this.tracker.alarms(),
      windows: this.windows,
      lastWindow: this.last,
      samplesInWindow: this.window.n,
      captured: this.captured,
    };
  }

  private closeWindow(): void {
    const samples = this.window.n;
    const values = this.window.close();
    const endedAt = this.opts.clock.now();
    const startedAt = this.startedAt;
    this.startedAt = endedAt;
    this.startedMono = this.opts.clock.monotonic();
    this.capturedInWindow = 0;
    if (samples < this.opts.config.minSamples) return;
    this.windows++;
    const { judged, transitions } = this.tracker.update(values);
    const level = this.tracker.worst();
    this.last = { endedAt, samples, stats: judged };
    this.opts.windows.add({ model: this.opts.model, modelVersion: this.opts.version(), startedAt, endedAt, samples, level, stats: judged });
    for (const t of transitions) this.report(t);
    this.trackAlarm(level === 'alarm');
  }

  private trackAlarm(active: boolean): void {
    if (active !== this.alarmActive) {
      this.alarmActive = active;
      this.opts.onAlarm?.(active);
    }
    if (!active) {
      this.alarmWindows = 0;
      this.capturedIds.length = 0;
      return;
    }
    this.alarmWindows++;
    if (this.alarmWindows === this.opts.config.retrainAfterWindows) {
      const alarms = this.tracker.alarms();
      const what = alarms.map((a) => `${a.subject} ${a.statistic} ${a.value.toFixed(3)}`).join(', ');
      this.opts.events.record({
        level: 'warn',
        kind: 'retrain_requested',
        source: `drift:${this.opts.model}`,
        message: `${this.opts.model}: drift alarm for ${this.alarmWindows} windows (${what}); retraining requested`,
        detail: { model: this.opts.model, version: this.opts.version(), windows: this.alarmWindows, statistics: alarms, sampleIds: [...this.capturedIds] },
      });
    }
  }

  private report(t: Transition): void {
    const kind = t.to === 'alarm' ? 'drift_alarm' : t.from === 'alarm' ? 'drift_recovered' : t.to === 'warn' ? 'drift_warn' : 'drift_ok';
    const limit = this.opts.config.limits[t.statistic as keyof DriftConfig['limits']];
    const message = `${this.opts.model}: ${t.subject} ${t.statistic} ${t.value.toFixed(4)} → ${t.to}${limit ? ` (warn ${limit.warn}, alarm ${limit.alarm})` : ''}`;
    if (kind !== 'drift_ok') this.opts.log[t.to === 'ok' ? 'info' : 'warn']({ model: this.opts.model, subject: t.subject, statistic: t.statistic, value: t.value, from: t.from, to: t.to }, message);
    this.opts.events.record({ level: t.to === 'alarm' ? 'warn' : 'info', kind, source: `drift:${this.opts.model}`, message, detail: { model: this.opts.model, subject: t.subject, statistic: t.statistic, value: t.value, from: t.from, to: t.to } });
  }

  private maybeCapture(sample: DriftSample, input: CapturedInput): void {
    const c = this.opts.config.capture;
    const store = this.opts.samples;
    if (!store || this.capturedInWindow >= c.perWindow) return;
    const reason = sample.top1 < c.belowConfidence ? 'low-confidence' : c.duringAlarm && this.alarmActive ? 'drift-alarm' : undefined;
    if (!reason) return;
    this.capturedInWindow++;
    input.seq
      .then(
        (seq) => store.addSoon({ source: input.source, frameId: input.frameId, seq, mediaType: input.mediaType, data: input.data, reason }),
        // A prediction that was not committed gets no sample; the writer reported the failure.
        () => undefined,
      )
      .then(
        (id) => {
          if (id === undefined) return;
          this.captured++;
          if (reason === 'drift-alarm' && this.capturedIds.length < 100) this.capturedIds.push(id);
        },
        (err: unknown) => this.opts.log.warn({ err, model: this.opts.model }, 'captured input could not be stored'),
      );
  }
}
