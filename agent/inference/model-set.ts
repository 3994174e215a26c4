import type { Logger } from 'pino';
import type { ModelConfig } from '../config/schema.js';
import type { TabularModelConfig } from '../config/sensor-schema.js';
import type { Component } from '../lifecycle/component.js';
import { ImageClassifierModel } from './image-model.js';
import { ServingModel } from './serving-model.js';
import { TabularModel } from './tabular-model.js';

/**
 * The models the agent serves, by name, loaded once at start-up and released at stop.
 * Each is a ServingModel, so rollout can swap what a name serves without touching routes.
 */
export class ModelSet implements Component {
  readonly name = 'models';
  private constructor(
    readonly models: ReadonlyMap<string, ServingModel>,
    /** Models over sensor feature rows, by name. */
    readonly tabular: ReadonlyMap<string, TabularModel> = new Map(),
  ) {}

  /** Loads every configured model; the first that fails is reported with its name and reason. */
  static async load(configs: readonly ModelConfig[], baseDir: string, log: Logger, tabularConfigs: readonly TabularModelConfig[] = []): Promise<ModelSet> {
    const loaded = new Map<string, ImageClassifierModel>();
    const tabular = new Map<string, TabularModel>();
    try {
      for (const config of configs) {
        const t0 = performance.now();
        loaded.set(config.name, await ImageClassifierModel.load(config, baseDir));
        log.info({ component: 'models', model: config.name, version: config.version, ms: Math.round(performance.now() - t0) }, 'model loaded');
      }
      for (const config of tabularConfigs) {
        const t0 = performance.now();
        tabular.set(config.name, await TabularModel.load(config, baseDir));
        log.info({ component: 'models', model: config.name, version: config.version, kind: config.output.kind, ms: Math.round(performance.now() - t0) }, 'model loaded');
      }
    } catch (err) {
      await Promise.all([...loaded.values(), ...tabular.values()].map((m) => m.release()));
      throw err;
    }
    return new ModelSet(new Map([...loaded].map(([name, model]) => [name, new ServingModel(model)])), tabular);
  }

  /** The models named, in order; every model when `names` is absent. */
  pick(names: readonly string[] | undefined): ServingModel[] {
    if (!names) return [...this.models.values()];
    return names.map((n) => {
      const m = this.models.get(n);
      if (!m) throw new Error(`no model named "${n}"`);
      return m;
    });
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await Promise.all([...this.models.values(), ...this.tabular.values()].map((m) => m.release()));
  }
}
