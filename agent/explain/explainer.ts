import type { Logger } from 'pino';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { AgentConfig, ExplainConfig } from '../config/schema.js';
import type { Component } from '../lifecycle/component.js';
import type { ImageClassifierModel } from '../inference/image-model.js';
import type { ClassifiedFrame, PredictionSink } from '../pipeline/image-pipeline.js';
import { backgroundRows } from './background.js';
import { RowModel } from './row-model.js';
import { explainRow, outputColumn } from './tabular-explainer.js';
import { CpuBudget } from './cpu-budget.js';
import { ExplainQueue, type ExplainStats, type IdleGate } from './explain-queue.js';
import type { ExplanationStore } from './explanation-store.js';
import { explainImage } from './image-explainer.js';
import { ExplainPolicy, type ExplainReason } from './policy.js';

/** Explanation work may bank at most this much unused budget. */
const MAX_CREDIT_MS = 10_000;

interface ModelExplain {
  config: ExplainConfig;
  policy: ExplainPolicy;
  budget: CpuBudget;
  /** Moving mean of one live inference, ms: what one perturbed input is expected to cost. */
  inferenceMs: number;
}

type SensorModelConfig = AgentConfig['sensorModels'][number];

interface SensorExplain extends ModelExplain {
  model: SensorModelConfig;
  rows: Promise<RowModel> | undefined;
}

export interface ExplainerOptions {
  /** `models[].explain` by model name; models without one are never explained. */
  configs: ReadonlyMap<string, ExplainConfig>;
  /** The classifier serving a model now, and its version. */
  resolve: (model: string) => { model: ImageClassifierModel; version: string } | undefined;
  store: ExplanationStore;
  gate: IdleGate;
  /** Sensor models, some with `explain`: their predictions get Shapley values. */
  sensorModels?: readonly SensorModelConfig[];
  /** Relative model paths are resolved against this. */
  baseDir?: string;
  /** A model version's reference profile from its signed manifest, when it came as a bundle. */
  profile?: (model: string, version: string) => unknown;
  log: Logger;
  random?: () => number;
  /** Told when an explanation was stored, e.g. to wake the sync. */
  onStored?: (seq: number) => void;
}

/**
 * Decides which predictions get an occlusion map (policy), admits them within each model's
 * CPU budget, computes them in the low-priority queue and stores them beside the prediction.
 */
export class Explainer implements Component {
  readonly name = 'explainer';
  private readonly models = new Map<string, ModelExplain>();
  private readonly queue: ExplainQueue;
  private readonly sensors = new Map<string, SensorExplain>();
  readonly reasons: Record<ExplainReason, number> = { class: 0, alarm: 0, sample: 0 };

  constructor(private readonly o: ExplainerOptions) {
    for (const [name, config] of o.configs) {
      this.models.set(name, { config, policy: new ExplainPolicy(config, o.random), budget: new CpuBudget(config.cpuShare, MAX_CREDIT_MS), inferenceMs: 0 });
    }
    for (const model of o.sensorModels ?? []) {
      const config = model.explain;
      if (!config) continue;
      this.sensors.set(model.name, { config, model, rows: undefined, policy: new ExplainPolicy(config, o.random), budget: new CpuBudget(config.cpuShare, MAX_CREDIT_MS), inferenceMs: 0 });
    }
    const queues = [...o.configs.values(), ...[...this.sensors.values()].map((s) => s.config)].map((c) => c.queue);
    this.queue = new ExplainQueue({ gate: o.gate, capacity: Math.max(...queues, 1), log: o.log });
  }

  get stats(): ExplainStats & { queued: number } {
    return { ...this.queue.stats, queued: this.queue.size };
  }

  /** A drift or data alarm for `model` began (true) or ended: while active, every prediction is explained when so configured. */
  setAlarm(model: string, active: boolean): void {
    (this.models.get(model) ?? this.sensors.get(model))?.policy.setAlarm(active);
  }

  /**
   * The sensor pipeline's sink, seen through: every committed sensor prediction of a model
   * with `explain` may get Shapley values over its feature row.
   */
  sensorSink(sink: PredictionSink): PredictionSink {
    return {
      add: (record) => {
        const seq = sink.add(record);
        const m = this.sensors.get(record.model);
        if (m && record.features) this.offerRow(m, record, seq);
        return seq;
      },
    };
  }

  private offerRow(m: SensorExplain, record: Parameters<PredictionSink['add']>[0], seq: Promise<number>): void {
    // A sensor prediction's latency is its inference plus a commit; a fair upper bound on one run.
    m.budget.earn(record.latencyMs);
    m.inferenceMs = m.inferenceMs === 0 ? record.latencyMs : m.inferenceMs + (record.latencyMs - m.inferenceMs) / 16;
    const reason = m.policy.reason(record.label);
    if (!reason) return;
    const keys = m.model.features.map((f) => `${f.tag}.${f.fn}`);
    const row = keys.map((k) => record.features![k]);
    if (row.some((v) => v === undefined || !Number.isFinite(v))) return;
    const n = keys.length;
    const coalitions = n <= m.config.exactUpTo ? 2 ** n : m.config.samples + 2;
    const verdict = this.queue.offer({
      model: record.model,
      seq,
      // A batched tabular run costs about one live run per few hundred rows.
      estimateMs: Math.max(1, m.inferenceMs) * Math.ceil((coalitions * 100) / 512),
      budget: m.budget,
      run: async (turn, committed) => {
        m.rows ??= readFile(resolvePath(this.o.baseDir ?? '.', m.model.path)).then((bytes) => RowModel.open(bytes, m.model.input === undefined ? {} : { input: m.model.input }));
        const rows = await m.rows;
        const background = backgroundRows(this.o.profile?.(record.model, record.modelVersion), m.config.background, n);
        if (!background) throw new Error(`model ${record.model} has no background rows (reference profile or explain.background)`);
        const kind = m.model.output.kind;
        const column = outputColumn(record.label, kind, m.model.labels, rows.classLabels);
        const values = await explainRow(rows, row as number[], keys, { column, output: kind === 'classifier' ? record.label : kind === 'regressor' ? 'value' : 'score' }, background.rows, { exactUpTo: m.config.exactUpTo, samples: m.config.samples, batchRows: 4096, random: this.o.random ?? Math.random }, turn);
        if (!this.o.store.put({ seq: committed, ts: record.ts, model: record.model, method: 'shapley', values })) throw new Error(`prediction ${committed} left the store before its explanation was ready`);
        this.o.onStored?.(committed);
      },
    });
    if (verdict === 'queued') this.reasons[reason]++;
  }

  /** The pipeline's hook: returns at once; the work, if any, happens later in the queue. */
  onClassified(c: ClassifiedFrame): void {
    const m = this.models.get(c.model.name);
    if (!m) return;
    m.inferenceMs = m.inferenceMs === 0 ? c.inferenceMs : m.inferenceMs + (c.inferenceMs - m.inferenceMs) / 16;
    m.budget.earn(c.inferenceMs);
    const reason = m.policy.reason(c.result.label);
    if (!reason) return;
    const version = c.model.version;
    const image = c.frame.data;
    const ts = c.frame.ts;
    const cells = m.config.grid * m.config.grid;
    const verdict = this.queue.offer({
      model: c.model.name,
      seq: c.seq,
      estimateMs: m.inferenceMs * (cells + 2),
      budget: m.budget,
      run: async (turn, seq) => {
        const serving = this.o.resolve(c.model.name);
        if (!serving || serving.version !== version) throw new Error(`model ${c.model.name} ${version} is no longer serving`);
        const values = await explainImage(serving.model, image, { ...m.config, overlay: m.config.overlay }, turn);
        if (!this.o.store.put({ seq, ts, model: c.model.name, method: 'occlusion', values })) throw new Error(`prediction ${seq} left the store before its explanation was ready`);
        this.o.onStored?.(seq);
      },
    });
    if (verdict === 'queued') this.reasons[reason]++;
  }

  async start(): Promise<void> {
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all([...this.sensors.values()].map(async (s) => (await s.rows?.catch(() => undefined))?.release()));
  }
}
