import type { BrokerRef } from './config.js';
import { PipelineRig } from './agent-rig.js';
import { BareModel } from './bare-frame.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { median, quantile, rotate } from './stats.js';

export interface FrameBenchOptions {
  reps: number;
  warm: number;
  frames: number;
  /** Paced rate for the latency run, as a share of the pipeline's measured throughput. */
  load: number;
}

/**
 * The camera figures: pipeline throughput against the bare sequential and overlapped
 * loops, and arrival → commit latency at a paced rate against one bare frame's time.
 * Each repetition runs every loop once, in rotating order, so noise hits all of them.
 */
export async function frameFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: FrameBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  const bare = await BareModel.load(inputs.modelPath, inputs.model.preprocess, inputs.model.threads, inputs.model.input);
  const rig = await PipelineRig.create(inputs, broker, dir);
  const seq: number[] = [];
  const over: number[] = [];
  const agent: number[] = [];
  const frameMs: number[] = [];
  const p99: number[] = [];
  const p50: number[] = [];
  let dropped = 0;
  const { frames } = inputs;
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs = [
        async () => {
          const r = await bare.sequential(frames, opts.warm, opts.frames);
          seq.push(r.fps);
          frameMs.push(median(r.frameMs));
        },
        async () => over.push((await bare.overlapped(frames, opts.warm, opts.frames)).fps),
        async () => agent.push(await rig.throughput(frames, opts.warm, opts.frames)),
      ];
      for (const run of rotate(runs, rep)) await run();
      // Paced below the pipeline's own saturation, so the latency is the path's and not the queue's.
      const paced = await rig.paced(frames, opts.warm, opts.frames, median(agent) * opts.load);
      p99.push(quantile(paced.latencyMs, 0.99));
      p50.push(quantile(paced.latencyMs, 0.5));
      dropped += paced.dropped;
      progress(`frames rep ${rep + 1}/${opts.reps}: sequential ${seq.at(-1)!.toFixed(1)}, overlapped ${over.at(-1)!.toFixed(1)}, pipeline ${agent.at(-1)!.toFixed(1)} frames/s; p99 ${p99.at(-1)!.toFixed(1)} ms`);
    }
  } finally {
    await rig.stop();
    await bare.release();
  }
  const { concurrency, queueSize } = rig.config.pipeline;
  const setup = `${opts.frames} frames after ${opts.warm} warm-up, concurrency ${concurrency}, queue ${queueSize}, outbox batch ${rig.config.buffer.batchSize}/linger ${rig.config.buffer.lingerMs} ms`;
  return [
    figure({ name: 'pipeline throughput vs overlapped', unit: 'frames/s', better: 'higher', agent, baseline: over, baselineName: 'overlapped loop', target: { of: 'ratio', op: '>=', limit: 0.9 }, note: setup }),
    figure({ name: 'pipeline throughput vs sequential', unit: 'frames/s', better: 'higher', agent, baseline: seq, baselineName: 'sequential loop', target: { of: 'ratio', op: '>=', limit: 1.5 } }),
    figure({
      name: 'latency arrival→commit p99',
      unit: 'ms',
      better: 'lower',
      agent: p99,
      baseline: frameMs,
      baselineName: 'bare decode+inference',
      target: { of: 'ratio', op: '<=', limit: 2 },
      note: `frames offered at ${Math.round(opts.load * 100)}% of the pipeline's median throughput; p50 ${p50.map((v) => v.toFixed(1)).join('/')} ms; ${dropped} frames dropped`,
    }),
  ];
}
