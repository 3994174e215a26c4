import type { Logger } from 'pino';
import type { ModelConfig } from '../config/schema.js';
import type { Component } from '../lifecycle/component.js';
import { ImageClassifierModel } from './image-model.js';
import { ServingModel } from './serving-model.js';

/**
 * The models the agent serves, by name, loaded once at start-up and released at stop.
 * Each is a ServingModel, so rollout can swap what a name serves without touching routes.
 */
export class ModelSet implements Component {
  readonly name = 'models';
  private constructor(readonly models: ReadonlyMap<string, ServingModel>) {}

  /** Loads every configured model; the first that fails is reported with its name and reason. */
  static async load(configs: readonly ModelConfig[], baseDir: string, log: Logger): Promise<ModelSet> {
    const loaded = new Map<string, ImageClassifierModel>();
    try {
      for (const config of configs) {
        const t0 = performance.now();
        loaded.set(config.name, await ImageClassifierModel.load(config, baseDir));
        log.info({ component: 'models', model: config.name, version: config.version, ms: Math.round(performance.now() - t0) }, 'model loaded');
      }
    } catch (err) {
      await Promise.all([...loaded.values()].map((m) => m.release()));
      throw err;
    }
    return new ModelSet(new Map([...loaded].map(([name, model]) => [name, new ServingModel(model)])));
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
    await Promise.all([...this.models.values()].map((m) => m.release()));
  }
}
