import type { Logger } from 'pino';
import type { FailsafeConfig } from '../config/failsafe-schema.js';
import type { ModelConfig } from '../config/schema.js';
import type { TabularModelConfig, WriteBackConfig } from '../config/sensor-schema.js';
import type { Clock } from '../clock.js';
import { AgentError } from '../errors.js';
import type { EventSink } from '../events.js';
import { ImageClassifierModel } from '../inference/image-model.js';
import { TabularModel } from '../inference/tabular-model.js';
import type { Component } from '../lifecycle/component.js';
import type { ImageModel } from '../pipeline/image-pipeline.js';
import type { SensorModel } from '../pipeline/sensor-pipeline.js';
import { ImagePreprocessor } from '../preprocess/image.js';
import type { WriteValue } from '../sources/opcua/write-back.js';
import { ImageFailsafe } from './image-failsafe.js';
import { SensorFailsafe } from './sensor-failsafe.js';
import { type FailsafeView, StepTally } from './step-tally.js';

export interface FailsafeSetOptions {
  models: ReadonlyArray<ModelConfig & { failsafe?: FailsafeConfig | undefined }>;
  sensorModels: ReadonlyArray<TabularModelConfig & { failsafe?: FailsafeConfig | undefined }>;
  baseDir: string;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** Where the manual-inspection signal goes to the PLC. */
  writeBack?: (target: WriteBackConfig, model: string, value: WriteValue) => void;
}

interface Held {
  config: FailsafeConfig;
  tally: StepTally;
}

/**
 * The fail-safe chains of every model that has one: wraps the models the pipelines ask,
 * loads the fallback models at start (a bad one stops the start with its reason), counts
 * the steps, and raises and clears the manual-inspection signal to the line.
 */
export class FailsafeSet implements Component {
  readonly name = 'failsafe';
  private readonly held = new Map<string, Held>();
  private imageFallbacks = new Map<string, ImageClassifierModel>();
  private sensorFallbacks = new Map<string, TabularModel>();

  constructor(private readonly o: FailsafeSetOptions) {
    for (const m of o.models) if (m.failsafe) this.check(m.name, m.failsafe, 'models', (r) => r.stat !== undefined, 'stat');
    for (const m of o.sensorModels) {
      if (!m.failsafe) continue;
      const keys = new Set(m.features.map((f) => `${f.tag}.${f.fn}`));
      this.check(m.name, m.failsafe, 'sensorModels', (r) => r.feature !== undefined && keys.has(r.feature), `feature, one of ${[...keys].join(', ')}`);
    }
  }

  /** `model` behind its chain, or as it is when its config has no `failsafe`. */
  wrapImage(model: ImageModel): ImageModel {
    const config = this.o.models.find((m) => m.name === model.name);
    const held = this.held.get(model.name);
    if (!config || !held) return model;
    return new ImageFailsafe({
      primary: model,
      fallback: () => this.imageFallbacks.get(model.name),
      preprocessor: new ImagePreprocessor(config.preprocess),
      config: held.config,
      onStep: (step, reason) => this.stepped(model.name, held, step === 'manual', () => held.tally.add(step, reason)),
    });
  }

  wrapSensor(model: SensorModel): SensorModel {
    const held = this.held.get(model.name);
    if (!held) return model;
    return new SensorFailsafe(model, () => this.sensorFallbacks.get(model.name), held.config, (step, reason) => this.stepped(model.name, held, step === 'manual', () => held.tally.add(step, reason)));
  }

  views(): FailsafeView[] {
    return [...this.held.values()].map((h) => h.tally.view());
  }

  async start(): Promise<void> {
    const { baseDir, log } = this.o;
    for (const m of this.o.models) {
      const fb = m.failsafe?.fallback;
      if (!fb) continue;
      const config: ModelConfig = { ...m, path: fb.path, version: fb.version, ...(fb.labels ? { labels: fb.labels, labelsFile: undefined } : {}), explain: undefined, drift: { ...m.drift, enabled: false } };
      const model = await ImageClassifierModel.load(config, baseDir);
      this.imageFallbacks.set(m.name, model);
      log.info({ model: m.name, fallback: fb.path, version: fb.version }, 'fallback model loaded');
    }
    for (const m of this.o.sensorModels) {
      const fb = m.failsafe?.fallback;
      if (!fb) continue;
      const model = await TabularModel.load({ ...m, path: fb.path, version: fb.version, ...(fb.labels ? { labels: fb.labels } : {}) }, baseDir);
      this.sensorFallbacks.set(m.name, model);
      log.info({ model: m.name, fallback: fb.path, version: fb.version }, 'fallback model loaded');
    }
  }

  async stop(): Promise<void> {
    const models = [...this.imageFallbacks.values(), ...this.sensorFallbacks.values()];
    this.imageFallbacks = new Map();
    this.sensorFallbacks = new Map();
    await Promise.all(models.map((m) => m.release()));
  }

  /** The signal to the line follows the latest prediction: 1 from the first that needs inspection, 0 from the first that does not. */
  private stepped(model: string, held: Held, manual: boolean, count: () => void): void {
    const before = held.tally.manualNow;
    count();
    const target = held.config.manual.writeBack;
    if (target && before !== manual) this.o.writeBack?.({ ...target, value: 'anomaly' }, model, manual ? 1 : 0);
  }

  private check(name: string, config: FailsafeConfig, section: string, fits: (r: FailsafeConfig['rules'][number]) => boolean, want: string): void {
    config.rules.forEach((r, i) => {
      if (!fits(r)) throw new AgentError('E_CONFIG', `${section} "${name}" failsafe.rules[${i}]: give ${want}`);
    });
    this.held.set(name, { config, tally: new StepTally(name, config.windowS, config.degradedShare, this.o.clock, this.o.events) });
  }
}
