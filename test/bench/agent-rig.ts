import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { profileImages } from '../../central/bundle/reference.js';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import { Counters } from '../../agent/counters.js';
import { DriftSet } from '../../agent/drift/drift-set.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import { Explainer } from '../../agent/explain/explainer.js';
import { ExplanationStore } from '../../agent/explain/explanation-store.js';
import type { Frame, FrameOutcome } from '../../agent/frame.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import type { WorkerHeap } from '../../agent/inference/inference-workers.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { NativeHeapTrim } from '../../agent/memory/native-heap-trim.js';
import { ImagePipeline, type PipelineStage } from '../../agent/pipeline/image-pipeline.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { frameAt } from './bare-frame.js';
import { benchConfig, benchLogger, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { median, sleep } from './stats.js';

export interface PacedResult {
  latencyMs: number[];
  dropped: number;
  /** Median ms of each stage over the run's frames. */
  stages: Partial<Record<PipelineStage, number>>;
}

/** Explanations on a 5% sample, as the target figure asks (BENCH_EXPLAIN_SAMPLE changes it, to see what they cost). */
export const EXPLAIN_SAMPLE = Number(process.env.BENCH_EXPLAIN_SAMPLE ?? 0.05);

/**
 * The agent's camera path as `Agent` wires it (queue → pipeline → drift and explanations →
 * outbox writer → SQLite, sync publishing to the broker, native heap trimming), with the bench standing in for
 * the camera. Drift watches the model against a reference profile made from the bench's
 * own frames (so it judges windows without alarming), and explanations take a 5% sample.
 */
export class PipelineRig {
  private readonly counters = new Counters();
  private readonly run = new AbortController();
  private readonly settled = new Settled();
  private nextId = 0;
  private recording: number[] | undefined;
  private stageTimes: Map<PipelineStage, number[]> | undefined;
  /** Explanations made and skipped by the explainers of pipelines that have stopped. */
  private explainedBefore = 0;
  private skippedBefore = 0;
  private readonly drift: DriftSet;
  private explainer: Explainer | undefined;

  /** Explanations made since the rig started, the running pipeline's included. */
  get explained(): number {
    return this.explainedBefore + (this.explainer?.stats.explained ?? 0);
  }

  /** Explanations skipped (over budget or busy) since the rig started. */
  get explainSkipped(): number {
    const s = this.explainer?.stats;
    return this.skippedBefore + (s ? s.skippedBudget + s.skippedBusy : 0);
  }

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly store: Store,
    private readonly sync: MqttSync,
    private readonly writer: OutboxWriter,
    private readonly model: ImageClassifierModel,
    readonly trim: NativeHeapTrim,
  ) {
    this.drift = new DriftSet({
      models: config.models,
      baseDir: '/',
      bundleProfile: () => undefined,
      windows: new DriftWindowStore(store.database),
      samples: store.samples,
      events: store.events,
      clock: systemClock,
      log,
      // As Agent wires it: during a drift alarm, explain every prediction.
      onAlarm: (model, active) => this.explainer?.setAlarm(model, active),
    });
  }

  static async create(inputs: BenchInputs, broker: BrokerRef, dir: string): Promise<PipelineRig> {
    const log = benchLogger();
    const referenceFile = await referenceProfile(inputs, join(dir, 'reference'));
    const entry = { ...inputs.entry, drift: { enabled: true, referenceFile }, explain: { sampleRate: EXPLAIN_SAMPLE } };
    const config = benchConfig({ deviceId: 'bench-pipeline', model: entry, dbPath: join(dir, 'pipeline.db'), broker });
    const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
    const store = new Store({ config: config.buffer, log });
    const sync = new MqttSync({ deviceId: config.deviceId, site: config.site, agentVersion: 'bench', config: config.broker, outbox: store.outbox, events: store.events, log });
    const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: config.buffer.batchSize, lingerMs: config.buffer.lingerMs, onCommit: () => sync.wake() });
    const trim = new NativeHeapTrim({ intervalMs: config.memory.trimIntervalMs, log });
    const rig = new PipelineRig(config, log, store, sync, writer, model, trim);
    await store.start(rig.run.signal);
    await trim.start();
    await sync.start(rig.run.signal);
    await writer.start(rig.run.signal);
    for (let i = 0; i < 200 && !sync.connected; i++) await sleep(10);
    if (!sync.connected) throw new Error(`the sync did not connect to ${broker.url}`);
    return rig;
  }

  /** frames/s from the first put to the commit of the last, all frames put (waiting for room, as the folder source does). */
  throughput(frames: readonly Buffer[], warm: number, n: number): Promise<number> {
    return this.withPipeline(async (queue) => {
      await this.putAll(queue, frames, warm);
      const t0 = performance.now();
      await this.putAll(queue, frames, n);
      return n / ((performance.now() - t0) / 1000);
    });
  }

  /** Frames offered at a steady rate, as a free-running camera does; arrival → commit latency of each. */
  paced(frames: readonly Buffer[], warm: number, n: number, fps: number): Promise<PacedResult> {
    return this.withPipeline(async (queue) => {
      await this.putAll(queue, frames, warm);
      const latencyMs: number[] = [];
      this.recording = latencyMs;
      const stageTimes = new Map<PipelineStage, number[]>();
      this.stageTimes = stageTimes;
      const dropped = queue.dropped;
      await this.offerAll(queue, frames, n, 1000 / fps, performance.now());
      this.recording = undefined;
      this.stageTimes = undefined;
      const stages: Partial<Record<PipelineStage, number>> = {};
      for (const [stage, times] of stageTimes) stages[stage] = median(times);
      return { latencyMs, dropped: queue.dropped - dropped, stages };
    });
  }

  /**
   * Frames fed `chunk` at a time for as long as `more` (called once a chunk's frames are all
   * done with) says: put as fast as the pipeline takes them or, with `fps`, offered at that
   * steady rate as a free-running camera does (the newest frame wins when the queue is full).
   */
  async soak(frames: readonly Buffer[], chunk: number, more: (done: number) => boolean | Promise<boolean>, fps?: number): Promise<void> {
    await this.withPipeline(async (queue) => {
      let due = performance.now();
      for (let done = chunk; ; done += chunk) {
        if (fps) due = await this.offerAll(queue, frames, chunk, 1000 / fps, due);
        else await this.putAll(queue, frames, chunk);
        if (!(await more(done))) return;
      }
    });
  }

  /** Frames dropped by the queue (newest wins) since the rig started. */
  get dropped(): number {
    return this.settled.dropped;
  }

  /** The JS heap of each of the model's worker threads. */
  workerHeaps(): Promise<WorkerHeap[]> {
    return this.model.workerHeaps();
  }

  async stop(): Promise<void> {
    this.run.abort();
    await this.writer.stop();
    await this.sync.stop({ deadlineMs: 2000 });
    await this.trim.stop();
    await this.store.stop();
    await this.model.release();
  }

  private async withPipeline<T>(body: (queue: FrameQueue) => Promise<T>): Promise<T> {
    const queue = new FrameQueue(this.config.pipeline.queueSize, () => this.settled.settle({ ok: false, code: 'dropped', reason: 'queue full' }));
    const model = this.config.models[0]!;
    let explainer: Explainer | undefined;
    const pipeline: ImagePipeline = new ImagePipeline({
      routes: [{ source: 'cam1', queue, models: [this.model] }],
      sink: this.writer,
      events: this.store.events,
      counters: this.counters,
      clock: systemClock,
      log: this.log,
      concurrency: this.config.pipeline.concurrency,
      onLatency: (ms) => this.recording?.push(ms),
      onStage: (stage, ms) => {
        const times = this.stageTimes;
        if (!times) return;
        const list = times.get(stage) ?? [];
        list.push(ms);
        times.set(stage, list);
      },
      onClassified: (c) => explainer?.onClassified(c),
      onAnswer: (m, result, frame, seq) => this.drift.answer(m, result, frame, seq),
    });
    explainer = new Explainer({
      configs: new Map([[model.name, model.explain!]]),
      resolve: () => ({ model: this.model, version: this.model.version }),
      store: new ExplanationStore(this.store.database),
      gate: pipeline,
      log: this.log,
    });
    this.explainer = explainer;
    await explainer.start();
    await pipeline.start();
    try {
      return await body(queue);
    } finally {
      await pipeline.stop();
      await explainer.stop();
      this.explainer = undefined;
      this.explainedBefore += explainer.stats.explained;
      this.skippedBefore += explainer.stats.skippedBudget + explainer.stats.skippedBusy;
      this.settled.check();
    }
  }

  private async putAll(queue: FrameQueue, frames: readonly Buffer[], n: number): Promise<void> {
    const target = this.settled.count + n;
    for (let i = 0; i < n; i++) await queue.put(this.frame(frameAt(frames, i), performance.now()));
    await this.settled.reach(target);
  }

  /** `n` frames offered one every `periodMs` from `due` on; when the next one is due once all are done with. */
  private async offerAll(queue: FrameQueue, frames: readonly Buffer[], n: number, periodMs: number, due: number): Promise<number> {
    const target = this.settled.count + n;
    for (let i = 0; i < n; i++, due += periodMs) {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      // The frame arrived when it was due: a late timer means a busy event loop, and a camera's frame waits through that too.
      // An early timer (they round) means the frame is here before it was due.
      queue.offer(this.frame(frameAt(frames, i), Math.min(due, performance.now())));
    }
    await this.settled.reach(target);
    return Math.max(due, performance.now());
  }

  private frame(data: Buffer, arrivedAt: number): Frame {
    const id = this.nextId++;
    return { source: 'cam1', id: `f-${id}`, data, ts: Date.now(), arrivedAt, settle: (o) => this.settled.settle(o) };
  }
}

/** A drift reference profile of the bench's frames, made with the agent's own code as `edgectl profile` does; its path. */
async function referenceProfile(inputs: BenchInputs, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const files = inputs.frames.map((data, i) => {
    const file = join(dir, `frame-${i}.jpg`);
    writeFileSync(file, data);
    return file;
  });
  const profile = await profileImages({ ...inputs.model, path: inputs.modelPath, ...(inputs.model.labelsFile ? { labelsFile: join(inputs.baseDir, inputs.model.labelsFile) } : {}) }, files);
  const path = join(dir, 'profile.json');
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

/** Counts frames the pipeline is done with (committed, refused or dropped). */
class Settled {
  count = 0;
  dropped = 0;
  private readonly failures: string[] = [];
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  settle(outcome: FrameOutcome): void {
    this.count++;
    if (!outcome.ok && outcome.code === 'dropped') this.dropped++;
    else if (!outcome.ok) this.failures.push(`${outcome.code}: ${outcome.reason}`);
    for (const w of this.waiters.filter((x) => x.n <= this.count)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  reach(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** A refused frame means the figure measured something other than the camera path. */
  check(): void {
    if (this.failures.length > 0) throw new Error(`${this.failures.length} frames failed, first: ${this.failures[0]}`);
  }
}
