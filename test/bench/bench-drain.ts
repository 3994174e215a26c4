import { mkdirSync } from 'node:fs';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import type { BrokerRef } from './config.js';
import { liveWithBacklog, type LiveRun } from './drain-rig.js';
import type { BenchInputs } from './inputs.js';
import { figure, fmt, type Figure } from './report.js';
import { benchConfig } from './config.js';
import { rotate, spread } from './stats.js';

export interface DrainBenchOptions {
  reps: number;
  backlog: number;
}

/**
 * Backlog drain after an outage while live inference runs, in one process as on a gateway.
 * Each repetition runs the camera path flat out three times, in rotating order: with a
 * backlog drained through the sync's worker thread (the shipped path), with the same backlog
 * drained on the event loop (the path without the thread, for comparison), and with no
 * backlog for as long, so the live loss is a ratio of runs side by side.
 */
export async function drainFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: DrainBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  mkdirSync(dir, { recursive: true });
  const config = benchConfig({ deviceId: 'drain-defaults', model: inputs.entry, dbPath: `${dir}/unused.db`, broker });
  const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
  const threaded: LiveRun[] = [];
  const onLoop: LiveRun[] = [];
  const alone: LiveRun[] = [];
  const paired: number[] = [];
  const pairedLoop: number[] = [];
  let quietMs = 3000;
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs: Record<string, LiveRun> = {};
      const steps = [
        async () => {
          runs.thread = await liveWithBacklog(inputs, model, broker, dir, `drain-${rep}`, opts.backlog, 0);
          quietMs = runs.thread.seconds * 1000;
        },
        async () => (runs.loop = await liveWithBacklog(inputs, model, broker, dir, `loop-${rep}`, opts.backlog, 0, { thread: false })),
        async () => (runs.quiet = await liveWithBacklog(inputs, model, broker, dir, `quiet-${rep}`, 0, quietMs)),
      ];
      for (const step of rotate(steps, rep)) await step();
      const { thread, loop, quiet } = runs as Record<'thread' | 'loop' | 'quiet', LiveRun>;
      threaded.push(thread);
      onLoop.push(loop);
      alone.push(quiet);
      paired.push(thread.liveFps / quiet.liveFps);
      pairedLoop.push(loop.liveFps / quiet.liveFps);
      progress(
        `drain rep ${rep + 1}/${opts.reps}: thread ${Math.round(thread.drainRate)} pred/s in ${thread.seconds.toFixed(2)} s, live ${thread.liveFps.toFixed(1)} fps (${thread.cores.toFixed(2)} cores); ` +
          `event loop ${Math.round(loop.drainRate)} pred/s, live ${loop.liveFps.toFixed(1)} fps (${loop.cores.toFixed(2)} cores); alone ${quiet.liveFps.toFixed(1)} fps (${quiet.cores.toFixed(2)} cores)`,
      );
    }
  } finally {
    await model.release();
  }
  const b = config.broker;
  const setup = `backlog of ${opts.backlog} predictions (~320 B), backlog batches of ${b.batch.backlogMaxCount}, ${b.inflight} in flight, ${b.compression}, backlog limit ${b.backlogRatePerS}/s`;
  const ratios = (r: number[]) => {
    const s = spread(r);
    return `${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`;
  };
  const cpuPerPred = (runs: LiveRun[]) => {
    // Extra CPU of a drain run over the live-alone rate, per drained prediction.
    const us = runs.map((r, i) => ((r.cores - alone[i]!.cores) * r.seconds * 1e6) / opts.backlog);
    return fmt(spread(us).median);
  };
  return [
    figure({
      name: 'backlog drain during live inference',
      unit: 'pred/s',
      better: 'higher',
      agent: threaded.map((r) => r.drainRate),
      baseline: onLoop.map((r) => r.drainRate),
      baselineName: 'drained on the event loop',
      target: { of: 'value', op: '>=', limit: 100_000 },
      note: `${setup}; extra CPU per drained prediction (median) ${cpuPerPred(threaded)} µs with the thread, ${cpuPerPred(onLoop)} µs on the event loop`,
    }),
    figure({
      name: 'live throughput while draining',
      unit: 'frames/s',
      better: 'higher',
      agent: threaded.map((r) => r.liveFps),
      baseline: alone.map((r) => r.liveFps),
      baselineName: 'live alone',
      target: { of: 'ratio', op: '>=', limit: 0.9 },
      note: `camera path flat out; ratio ≥ 0.9 is a live loss under 10%; paired per-rep ratios min / median / max ${ratios(paired)}`,
    }),
    figure({
      name: 'live throughput while draining on the event loop',
      unit: 'frames/s',
      better: 'higher',
      agent: onLoop.map((r) => r.liveFps),
      baseline: alone.map((r) => r.liveFps),
      baselineName: 'live alone',
      note: `the same drain without the worker thread; paired per-rep ratios ${ratios(pairedLoop)}`,
    }),
  ];
}
