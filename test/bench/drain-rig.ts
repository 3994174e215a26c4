import { join } from 'node:path';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import { Counters } from '../../agent/counters.js';
import type { Frame } from '../../agent/frame.js';
import type { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline } from '../../agent/pipeline/image-pipeline.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { frameAt } from './bare-frame.js';
import { benchConfig, benchLogger, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { sampleRecords } from './records.js';
import { sleep } from './stats.js';

export interface LiveRun {
  /** Live frames/s committed through the whole camera path while the run lasted. */
  liveFps: number;
  /** Frames a paced camera offered that the queue dropped for newer ones (0 flat out). */
  dropped: number;
  /** Backlog predictions/s acknowledged by the broker (0 without a backlog). */
  drainRate: number;
  seconds: number;
  /** CPU time of the whole process (every thread) per second of the run, in cores. */
  cores: number;
}

/**
 * The agent after an outage: a fresh store holding `backlog` committed, unsent predictions
 * when the sync connects, while the camera path (queue → pipeline → outbox → sync) keeps
 * classifying frames: as fast as it can, or offered by a free-running camera at `paceFps`
 * (newest frame wins, as on a gateway). Runs until the backlog is acknowledged (or for
 * `minMs` without one) and reports both rates.
 */
export async function liveWithBacklog(
  inputs: BenchInputs,
  model: ImageClassifierModel,
  broker: BrokerRef,
  dir: string,
  name: string,
  backlog: number,
  minMs: number,
  opts: { paceFps?: number } = {},
): Promise<LiveRun> {
  const log = benchLogger();
  const config = benchConfig({ deviceId: name, model: inputs.entry, dbPath: join(dir, `${name}.db`), broker });
  const store = new Store({ config: config.buffer, log });
  for (let i = 0; i < backlog; i += 2000) store.outbox.append(sampleRecords(Math.min(2000, backlog - i), i));
  const sync = new MqttSync({ deviceId: config.deviceId, site: config.site, agentVersion: 'bench', config: config.broker, outbox: store.outbox, events: store.events, log });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: config.buffer.batchSize, lingerMs: config.buffer.lingerMs, onCommit: () => sync.wake() });
  const run = new AbortController();
  let settled = 0;
  let committed = 0;
  const queue = new FrameQueue(config.pipeline.queueSize, () => settled++);
  const pipeline = new ImagePipeline({
    routes: [{ source: 'cam1', queue, models: [model] }],
    sink: writer,
    events: store.events,
    counters: new Counters(),
    clock: systemClock,
    log,
    concurrency: config.pipeline.concurrency,
  });
  let id = 0;
  const frame = (data: Buffer): Frame => ({
    source: 'cam1',
    id: `f-${id++}`,
    data,
    ts: Date.now(),
    arrivedAt: performance.now(),
    settle: (outcome) => {
      settled++;
      if (outcome.ok) committed++;
    },
  });
  try {
    await store.start(run.signal);
    await writer.start(run.signal);
    await pipeline.start();
    // Warm the camera path before the clock starts.
    for (let i = 0; i < 10; i++) await queue.put(frame(frameAt(inputs.frames, i)));
    while (settled < 10) await sleep(1);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const from = committed;
    const dropped = queue.dropped;
    await sync.start(run.signal);
    let i = 0;
    let drainedAt: number | undefined;
    const period = opts.paceFps ? 1000 / opts.paceFps : 0;
    while (true) {
      if (period > 0) {
        const wait = t0 + i * period - performance.now();
        if (wait > 0) await sleep(wait);
        queue.offer(frame(frameAt(inputs.frames, i++)));
      } else await queue.put(frame(frameAt(inputs.frames, i++)));
      const now = performance.now();
      if (backlog > 0 && drainedAt === undefined && sync.stats.backlogAcked >= backlog) drainedAt = now;
      if ((backlog === 0 || drainedAt !== undefined) && now - t0 >= minMs) break;
      if (now - t0 > 120_000) throw new Error(`backlog stuck at ${sync.stats.backlogAcked}/${backlog}`);
    }
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const seconds = (t1 - t0) / 1000;
    const drainSeconds = ((drainedAt ?? t1) - t0) / 1000;
    return { liveFps: (committed - from) / seconds, dropped: queue.dropped - dropped, drainRate: backlog === 0 ? 0 : backlog / drainSeconds, seconds, cores: (cpu.user + cpu.system) / 1e6 / seconds };
  } finally {
    run.abort();
    await pipeline.stop();
    await writer.stop();
    await sync.stop({ deadlineMs: 2000 });
    await store.stop();
  }
}
