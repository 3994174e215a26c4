import { join } from 'node:path';
import type { Logger } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import { Counters } from '../../agent/counters.js';
import type { Frame, FrameOutcome } from '../../agent/frame.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline } from '../../agent/pipeline/image-pipeline.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { frameAt } from './bare-frame.js';
import { benchConfig, benchLogger, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { sleep } from './stats.js';

export interface PacedResult {
  latencyMs: number[];
  dropped: number;
}

/**
 * The agent's camera path as `Agent` wires it (queue → pipeline → outbox writer → SQLite,
 * sync publishing to the broker), with the bench standing in for the camera.
 */
export class PipelineRig {
  private readonly counters = new Counters();
  private readonly run = new AbortController();
  private readonly settled = new Settled();
  private nextId = 0;
  private recording: number[] | undefined;

  private constructor(
    readonly config: AgentConfig,
    private readonly log: Logger,
    private readonly store: Store,
    private readonly sync: MqttSync,
    private readonly writer: OutboxWriter,
    private readonly model: ImageClassifierModel,
  ) {}

  static async create(inputs: BenchInputs, broker: BrokerRef, dir: string): Promise<PipelineRig> {
    const log = benchLogger();
    const config = benchConfig({ deviceId: 'bench-pipeline', model: inputs.entry, dbPath: join(dir, 'pipeline.db'), broker });
    const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
    const store = new Store({ config: config.buffer, log });
    const sync = new MqttSync({ deviceId: config.deviceId, site: config.site, agentVersion: 'bench', config: config.broker, outbox: store.outbox, events: store.events, log });
    const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: config.buffer.batchSize, lingerMs: config.buffer.lingerMs, onCommit: () => sync.wake() });
    const rig = new PipelineRig(config, log, store, sync, writer, model);
    await store.start(rig.run.signal);
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
      const dropped = queue.dropped;
      const target = this.settled.count + n;
      const period = 1000 / fps;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const due = t0 + i * period;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        // The frame arrived when it was due: a late timer means a busy event loop, and a camera's frame waits through that too.
        queue.offer(this.frame(frameAt(frames, i), due));
      }
      await this.settled.reach(target);
      this.recording = undefined;
      return { latencyMs, dropped: queue.dropped - dropped };
    });
  }

  async stop(): Promise<void> {
    this.run.abort();
    await this.writer.stop();
    await this.sync.stop({ deadlineMs: 2000 });
    await this.store.stop();
    await this.model.release();
  }

  private async withPipeline<T>(body: (queue: FrameQueue) => Promise<T>): Promise<T> {
    const queue = new FrameQueue(this.config.pipeline.queueSize, () => this.settled.settle({ ok: false, code: 'dropped', reason: 'queue full' }));
    const pipeline = new ImagePipeline({
      routes: [{ source: 'cam1', queue, models: [this.model] }],
      sink: this.writer,
      events: this.store.events,
      counters: this.counters,
      clock: systemClock,
      log: this.log,
      concurrency: this.config.pipeline.concurrency,
      onLatency: (ms) => this.recording?.push(ms),
    });
    await pipeline.start();
    try {
      return await body(queue);
    } finally {
      await pipeline.stop();
      this.settled.check();
    }
  }

  private async putAll(queue: FrameQueue, frames: readonly Buffer[], n: number): Promise<void> {
    const target = this.settled.count + n;
    for (let i = 0; i < n; i++) await queue.put(this.frame(frameAt(frames, i), performance.now()));
    await this.settled.reach(target);
  }

  private frame(data: Buffer, arrivedAt: number): Frame {
    const id = this.nextId++;
    return { source: 'cam1', id: `f-${id}`, data, ts: Date.now(), arrivedAt, settle: (o) => this.settled.settle(o) };
  }
}

/** Counts frames the pipeline is done with (committed, refused or dropped). */
class Settled {
  count = 0;
  private readonly failures: string[] = [];
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  settle(outcome: FrameOutcome): void {
    this.count++;
    if (!outcome.ok && outcome.code !== 'dropped') this.failures.push(`${outcome.code}: ${outcome.reason}`);
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
