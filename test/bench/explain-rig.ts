import { join } from 'node:path';
import type { Logger } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import type { AgentConfig, ExplainConfig } from '../../agent/config/schema.js';
import { ExplainSchema } from '../../agent/config/schema.js';
import { Counters } from '../../agent/counters.js';
import { Explainer } from '../../agent/explain/explainer.js';
import { ExplanationStore } from '../../agent/explain/explanation-store.js';
import type { Frame, FrameOutcome } from '../../agent/frame.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline } from '../../agent/pipeline/image-pipeline.js';
import { frameAt } from './bare-frame.js';
import { benchConfig, benchLogger, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { sleep } from './stats.js';

/** What one run measured, and what the explainer did meanwhile. */
export interface ExplainRun {
  fps: number;
  latencyMs: number[];
  explained: number;
  skipped: number;
}

/**
 * The camera path with or without explanations: queue → pipeline → outbox → SQLite, and
 * the explainer on the pipeline's hook with its low-priority queue, as `Agent` wires them.
 */
export class ExplainRig {
  private nextId = 0;
  private settledCount = 0;
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];
  private recording: number[] | undefined;

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly store: Store,
    private readonly writer: OutboxWriter,
    private readonly model: ImageClassifierModel,
  ) {}

  static async create(inputs: BenchInputs, broker: BrokerRef, dir: string): Promise<ExplainRig> {
    const log = benchLogger();
    const config = benchConfig({ deviceId: 'bench-explain', model: inputs.entry, dbPath: join(dir, 'explain.db'), broker });
    const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
    const store = new Store({ config: config.buffer, log });
    const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: config.buffer.batchSize, lingerMs: config.buffer.lingerMs });
    const signal = new AbortController().signal;
    await store.start(signal);
    await writer.start(signal);
    return new ExplainRig(config, log, store, writer, model);
  }

  /** Throughput with every frame put as fast as the queue takes it, then latency at `fps`; `explain` undefined runs without explanations. */
  async run(frames: readonly Buffer[], warm: number, n: number, fps: number | undefined, explain: ExplainConfig | undefined): Promise<ExplainRun> {
    const queue = new FrameQueue(this.config.pipeline.queueSize, () => this.settle({ ok: false, code: 'dropped', reason: 'queue full' }));
    let explainer: Explainer | undefined;
    const pipeline: ImagePipeline = new ImagePipeline({
      routes: [{ source: 'cam1', queue, models: [this.model] }],
      sink: this.writer,
      events: this.store.events,
      counters: new Counters(),
      clock: systemClock,
      log: this.log,
      concurrency: this.config.pipeline.concurrency,
      onLatency: (ms) => this.recording?.push(ms),
      ...(explain ? { onClassified: (c) => explainer?.onClassified(c) } : {}),
    });
    if (explain) {
      explainer = new Explainer({
        configs: new Map([[this.model.name, explain]]),
        resolve: () => ({ model: this.model, version: this.model.version }),
        store: new ExplanationStore(this.store.database),
        gate: pipeline,
        log: this.log,
      });
      await explainer.start();
    }
    await pipeline.start();
    try {
      await this.putAll(queue, frames, warm);
      const t0 = performance.now();
      await this.putAll(queue, frames, n);
      const fpsMeasured = n / ((performance.now() - t0) / 1000);
      const latencyMs: number[] = [];
      if (fps !== undefined) {
        this.recording = latencyMs;
        const target = this.settledCount + n;
        const period = 1000 / fps;
        const p0 = performance.now();
        for (let i = 0; i < n; i++) {
          const wait = p0 + i * period - performance.now();
          if (wait > 0) await sleep(wait);
          queue.offer(this.frame(frameAt(frames, i), p0 + i * period));
        }
        await this.reach(target);
        this.recording = undefined;
      }
      const s = explainer?.stats;
      return { fps: fpsMeasured, latencyMs, explained: s?.explained ?? 0, skipped: (s?.skippedBudget ?? 0) + (s?.skippedBusy ?? 0) };
    } finally {
      await pipeline.stop();
      await explainer?.stop();
    }
  }

  async stop(): Promise<void> {
    await this.writer.stop();
    await this.store.stop();
    await this.model.release();
  }

  /** The explain config of a model entry, with the schema's defaults. */
  static explain(input: Record<string, unknown>): ExplainConfig {
    return ExplainSchema.parse(input);
  }

  private async putAll(queue: FrameQueue, frames: readonly Buffer[], n: number): Promise<void> {
    const target = this.settledCount + n;
    for (let i = 0; i < n; i++) await queue.put(this.frame(frameAt(frames, i), performance.now()));
    await this.reach(target);
  }

  private frame(data: Buffer, arrivedAt: number): Frame {
    const id = this.nextId++;
    return { source: 'cam1', id: `x-${id}`, data, ts: Date.now(), arrivedAt, settle: (o) => this.settle(o) };
  }

  private settle(outcome: FrameOutcome): void {
    if (!outcome.ok && outcome.code !== 'dropped') throw new Error(`a frame failed: ${outcome.code} ${outcome.reason}`);
    this.settledCount++;
    for (const w of this.waiters.filter((x) => x.n <= this.settledCount)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  private reach(n: number): Promise<void> {
    if (this.settledCount >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}
