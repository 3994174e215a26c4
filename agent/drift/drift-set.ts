import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { parsePayload } from '../../protocol/parse.js';
import { type ReferenceProfile, ReferenceProfileSchema } from '../../protocol/reference-profile.js';
import type { SampleStore } from '../buffer/samples.js';
import type { Clock } from '../clock.js';
import type { DriftConfig } from '../config/drift-schema.js';
import { AgentError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Frame } from '../frame.js';
import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';
import { sniffImage } from '../sources/camera/image-sniff.js';
import { DriftMonitor, type DriftState } from './monitor.js';
import { type TabularAnswer, tabularSample } from './tabular-sample.js';
import type { DriftWindowStore } from './window-store.js';

/** Largest reference profile file read from disk. */
const PROFILE_MAX_BYTES = 8 * 1024 * 1024;

/** What the drift set needs of a model's config entry (image `models[]` and `sensorModels[]` alike). */
export interface WatchedModel {
  name: string;
  version: string;
  drift: DriftConfig;
}

export interface DriftSetOptions {
  models: readonly WatchedModel[];
  baseDir: string;
  /** The profile a model version was packed with, for versions that came by rollout. */
  bundleProfile: (name: string, version: string) => ReferenceProfile | undefined;
  windows: DriftWindowStore;
  samples: SampleStore | undefined;
  events: EventSink;
  clock: Clock;
  log: Logger;
  onAlarm?: (model: string, active: boolean) => void;
}

/**
 * One drift monitor per model, for the version serving now: the config's model is judged
 * against `drift.referenceFile`, a model that came by rollout against the profile in its
 * signed manifest. A new version starts a new monitor (its reference is its own).
 */
export class DriftSet {
  private readonly monitors = new Map<string, { version: string; monitor: DriftMonitor | undefined }>();
  private readonly configProfiles = new Map<string, ReferenceProfile>();
  private operatorCaptures = 0;
  /** Models whose current alarm an operator acknowledged. */
  private readonly acknowledged = new Map<string, number>();

  constructor(private readonly opts: DriftSetOptions) {
    for (const m of opts.models) {
      if (m.drift.enabled && m.drift.referenceFile) this.configProfiles.set(m.name, readProfile(resolve(opts.baseDir, m.drift.referenceFile), m.name));
    }
  }

  /** Takes one answer of the image pipeline. */
  answer(model: ImageModel, result: Classification, frame: Frame, seq: Promise<number>): void {
    const kind = sniffImage(frame.data);
    const input = { source: frame.source, frameId: frame.id, mediaType: kind ? `image/${kind}` : 'application/octet-stream', data: frame.data, seq };
    if (this.operatorCaptures > 0) this.captureForOperator(input);
    if (!result.inputs) return;
    const monitor = this.monitorFor(model.name, model.version);
    monitor?.observe({ image: result.inputs.image, label: result.label, top1: result.score, entropy: result.inputs.entropy }, input);
  }

  /** An operator's request (the status page's capture action): keep the next `count` camera inputs, whatever drift says. */
  requestCapture(count: number): { requested: number } {
    if (!this.opts.samples) throw new AgentError('E_CAPTURE', 'this agent has no samples store to capture into');
    this.operatorCaptures = count;
    this.opts.events.record({ level: 'info', kind: 'capture_requested', source: 'status', message: `an operator asked to capture the next ${count} inputs`, detail: { count } });
    return { requested: count };
  }

  /** Marks a model's drift alarm as seen by an operator: still listed, no longer driving the LED. */
  acknowledge(alarmId: string): { acknowledged: string } {
    const model = /^drift:(.+)$/.exec(alarmId)?.[1];
    const state = model === undefined ? undefined : this.states().find((s) => s.model === model && s.level === 'alarm');
    if (!state || model === undefined) throw new AgentError('E_ALARM', `no active alarm "${alarmId}"`);
    this.acknowledged.set(model, state.windows);
    this.opts.events.record({ level: 'info', kind: 'alarm_acknowledged', source: 'status', message: `drift alarm on ${model} acknowledged by an operator`, detail: { alarm: alarmId } });
    return { acknowledged: alarmId };
  }

  /** Whether the operator acknowledged the model's alarm since it last started. */
  isAcknowledged(model: string): boolean {
    return this.acknowledged.has(model) && this.states().some((s) => s.model === model && s.level === 'alarm');
  }

  private captureForOperator(input: { source: string; frameId: string; mediaType: string; data: Buffer; seq: Promise<number> }): void {
    this.operatorCaptures--;
    const samples = this.opts.samples;
    input.seq.then((seq) => samples?.addSoon({ source: input.source, frameId: input.frameId, seq, mediaType: input.mediaType, data: input.data, reason: 'operator' }), () => undefined).catch((err: unknown) => this.opts.log.warn({ err }, 'captured input could not be stored'));
  }

  /** Takes one answer of the sensor pipeline: the window's features and the model's answer. */
  window(name: string, version: string, features: Readonly<Record<string, number>>, result: TabularAnswer): void {
    this.monitorFor(name, version)?.observe(tabularSample(features, result));
  }

  /** Every watched model's state, for the status page. */
  states(): DriftState[] {
    return [...this.monitors.values()].flatMap((m) => (m.monitor ? [m.monitor.state()] : []));
  }

  /** Models configured for drift but with no reference profile: the page says so. */
  unwatched(): string[] {
    return this.opts.models.filter((m) => m.drift.enabled && !this.monitors.get(m.name)?.monitor).map((m) => m.name);
  }

  private monitorFor(name: string, version: string): DriftMonitor | undefined {
    const held = this.monitors.get(name);
    if (held?.version === version) return held.monitor;
    const config = this.opts.models.find((m) => m.name === name);
    if (!config?.drift.enabled) return undefined;
    const profile = version === config.version ? this.configProfiles.get(name) : this.opts.bundleProfile(name, version);
    const monitor = profile
      ? new DriftMonitor({
          model: name,
          version: () => version,
          profile,
          config: config.drift,
          windows: this.opts.windows,
          samples: this.opts.samples,
          events: this.opts.events,
          clock: this.opts.clock,
          log: this.opts.log,
          onAlarm: (active) => {
            // An acknowledgement covers one alarm: the next one must be seen again.
            if (!active) this.acknowledged.delete(name);
            this.opts.onAlarm?.(name, active);
          },
        })
      : undefined;
    if (!profile) this.opts.log.info({ model: name, version }, 'no reference profile for this model version; drift is not watched');
    this.monitors.set(name, { version, monitor });
    return monitor;
  }
}

/** A reference profile file, checked; a bad one stops the agent at start with the reason. */
export function readProfile(path: string, model: string): ReferenceProfile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new AgentError('E_DRIFT_PROFILE', `models "${model}" drift.referenceFile: cannot read ${path}: ${(err as Error).message}`);
  }
  const json = parsePayload(ReferenceProfileSchema, bytes, PROFILE_MAX_BYTES);
  if (!json.ok) throw new AgentError('E_DRIFT_PROFILE', `models "${model}" drift.referenceFile ${path}: ${json.reason}`);
  return json.value;
}
