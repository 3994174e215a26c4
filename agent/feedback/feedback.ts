import type { Logger } from 'pino';
import type { LabelRecord } from '../../protocol/feedback.js';
import type { SampleStore } from '../buffer/samples.js';
import type { Clock } from '../clock.js';
import type { FeedbackConfig } from '../config/feedback-schema.js';
import { AgentError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Frame } from '../frame.js';
import { sniffImage } from '../sources/camera/image-sniff.js';
import type { AlarmView } from '../status/snapshot.js';
import { AccuracyMonitor, type AccuracyView } from './accuracy.js';
import { InputRing } from './input-ring.js';
import type { LabelStore } from './label-store.js';

export interface FeedbackOptions {
  models: ReadonlyArray<{ name: string; version: string; feedback: FeedbackConfig }>;
  store: LabelStore;
  samples: SampleStore | undefined;
  /** The version a model serves now. */
  servingVersion: (model: string) => string | undefined;
  /** The validation accuracy in a version's manifest, when it has one. */
  manifestAccuracy: (model: string, version: string) => number | undefined;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** Told of every stored label (segment audits, the sync). */
  onLabelled?: (label: LabelRecord) => void;
}

/** A label as an operator, central or `edgectl label` gives it. */
export interface GivenLabel {
  seq: number;
  label: string;
  by: string;
  ts?: number | undefined;
}

/**
 * Ground truth: labels given to predictions are stored (and synced), feed each model's live
 * accuracy, and a prediction the label shows wrong has its input captured for retraining:
 * the camera image while it is still held in memory, or the sensor window's feature row.
 */
export class Feedback {
  private readonly monitors = new Map<string, AccuracyMonitor>();
  private readonly inputs = new Map<string, InputRing>();
  /** Accuracy alarms an operator acknowledged, by model. */
  private readonly acknowledged = new Set<string>();
  private readonly alarmSince = new Map<string, number>();

  constructor(private readonly o: FeedbackOptions) {
    for (const m of o.models) {
      const monitor = new AccuracyMonitor(m.name, m.feedback, () => this.expected(m.name), o.events, o.clock, (active) => {
        if (active) this.alarmSince.set(m.name, o.clock.now());
        else {
          this.alarmSince.delete(m.name);
          this.acknowledged.delete(m.name);
        }
      });
      for (const r of o.store.recent(m.name, m.feedback.window)) monitor.add(r.predicted, r.label, true);
      this.monitors.set(m.name, monitor);
      this.inputs.set(m.name, new InputRing(m.feedback.keepInputs));
    }
  }

  /** Holds a camera input until its prediction is committed and for a while after, in case a label shows it wrong. */
  remember(model: string, frame: Frame, seq: Promise<number>): void {
    const ring = this.inputs.get(model);
    if (!ring) return;
    seq.then(
      (s) => ring.put(s, { source: frame.source, frameId: frame.id, mediaType: mediaTypeOf(frame.data), data: frame.data }),
      () => undefined,
    );
  }

  /** Stores a label for prediction `seq`; AgentError `E_LABEL` when there is no such prediction or model. */
  label(given: GivenLabel): LabelRecord {
    const p = this.o.store.predictionOf(given.seq);
    if (!p) throw new AgentError('E_LABEL', `no prediction ${given.seq} in the store (it may have been pruned after delivery)`);
    const monitor = this.monitors.get(p.model);
    if (!monitor) throw new AgentError('E_LABEL', `prediction ${given.seq} is of model "${p.model}", which this agent does not serve`);
    const correct = p.label === given.label;
    const sampleId = correct ? undefined : this.capture(p, given.label);
    const record: LabelRecord = { seq: p.seq, ts: given.ts ?? this.o.clock.now(), model: p.model, modelVersion: p.modelVersion, source: p.source, predicted: p.label, label: given.label, correct, by: given.by, ...(sampleId === undefined ? {} : { sampleId }) };
    this.o.store.put(record);
    monitor.add(p.label, given.label);
    this.o.log.info({ seq: p.seq, model: p.model, predicted: p.label, label: given.label, by: given.by }, 'prediction labelled');
    this.o.onLabelled?.(record);
    return record;
  }

  views(): AccuracyView[] {
    return [...this.monitors.values()].map((m) => m.view());
  }

  /** One alarm per model whose live accuracy is in alarm; `unacknowledged` leaves out those an operator has seen. */
  alarms(opts: { unacknowledged?: boolean } = {}): AlarmView[] {
    return [...this.monitors.values()]
      .filter((m) => m.level() === 'alarm' && !(opts.unacknowledged && this.acknowledged.has(m.model)))
      .map((m) => {
        const v = m.view();
        return { id: `accuracy:${m.model}`, severity: 'critical' as const, message: `accuracy of ${m.model}: ${pct(v.accuracy)} over ${v.labels} labels, expected ${pct(v.expected)}`, since: this.alarmSince.get(m.model) ?? 0, acknowledged: this.acknowledged.has(m.model) };
      });
  }

  /** Marks a model's accuracy alarm as seen: still listed, no longer driving the LED. */
  acknowledge(alarmId: string): { acknowledged: string } {
    const model = /^accuracy:(.+)$/.exec(alarmId)?.[1];
    if (model === undefined || this.monitors.get(model)?.level() !== 'alarm') throw new AgentError('E_ALARM', `no active alarm "${alarmId}"`);
    this.acknowledged.add(model);
    this.o.events.record({ level: 'info', kind: 'alarm_acknowledged', source: 'status', message: `accuracy alarm on ${model} acknowledged by an operator`, detail: { alarm: alarmId } });
    return { acknowledged: alarmId };
  }

  private expected(model: string): { value: number; from: 'manifest' | 'config' } | undefined {
    const version = this.o.servingVersion(model);
    const fromManifest = version === undefined ? undefined : this.o.manifestAccuracy(model, version);
    if (fromManifest !== undefined) return { value: fromManifest, from: 'manifest' };
    const configured = this.o.models.find((m) => m.name === model)?.feedback.expectedAccuracy;
    return configured === undefined ? undefined : { value: configured, from: 'config' };
  }

  /** The wrongly predicted input into the samples store, unless a capture already holds it. */
  private capture(p: ReturnType<LabelStore['predictionOf']> & object, label: string): number | undefined {
    const samples = this.o.samples;
    if (!samples) return undefined;
    const already = this.o.store.sampleOf(p.seq);
    if (already !== undefined) return already;
    const held = this.inputs.get(p.model)?.get(p.seq);
    const sample = held
      ? { ...held, seq: p.seq, reason: 'mislabelled' }
      : p.features
        ? { source: p.source, frameId: p.frameId, seq: p.seq, mediaType: 'application/json', data: Buffer.from(JSON.stringify({ features: p.features, predicted: p.label, label })), reason: 'mislabelled' }
        : undefined;
    if (!sample) {
      this.o.log.info({ seq: p.seq, model: p.model }, 'wrong prediction labelled, but its input is no longer held');
      return undefined;
    }
    return samples.add(sample);
  }
}

function mediaTypeOf(data: Buffer): string {
  const kind = sniffImage(data);
  return kind ? `image/${kind}` : 'application/octet-stream';
}

function pct(v: number | null): string {
  return v === null ? '?' : `${(v * 100).toFixed(1)} %`;
}
