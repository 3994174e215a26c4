import type { BrokerRef } from './config.js';
import { EXPLAIN_SAMPLE, PipelineRig } from './agent-rig.js';
import { BareModel } from './bare-frame.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { median, quantile, rotate } from './stats.js';

export interface FrameBenchOptions {
  reps: number;
  warm: number;
  frames: number;
  /** Frames of each latency run: a p99 needs several hundred to be more than the slowest few. */
  latencyFrames: number;
  /** Frame rate of the camera the latency figure is measured at, frames/s. */
  cameraFps: number;
  /** Rate of the loaded latency run (context, no target), as a share of the pipeline's measured throughput. */
  load: number;
}

/**
 * The camera figures: pipeline throughput against the bare sequential and overlapped
 * loops, and arrival → commit latency against one bare frame's time. The latency target
 * is measured with frames arriving at a camera's frame rate, as a free-running camera
 * delivers them; the same at a share of the pipeline's saturation is reported beside it,
 * to show what queueing adds when the line runs near the gateway's limit.
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
  const loadedP99: number[] = [];
  const loadedP50: number[] = [];
  const stageRuns: Array<Partial<Record<string, number>>> = [];
  let dropped = 0;
  let loadedDropped = 0;
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
      const camera = await rig.paced(frames, opts.warm, opts.latencyFrames, opts.cameraFps);
      p99.push(quantile(camera.latencyMs, 0.99));
      p50.push(quantile(camera.latencyMs, 0.5));
      dropped += camera.dropped;
      stageRuns.push(camera.stages);
      const loaded = await rig.paced(frames, opts.warm, opts.latencyFrames, median(agent) * opts.load);
      loadedP99.push(quantile(loaded.latencyMs, 0.99));
      loadedP50.push(quantile(loaded.latencyMs, 0.5));
      loadedDropped += loaded.dropped;
      progress(`frames rep ${rep + 1}/${opts.reps}: sequential ${seq.at(-1)!.toFixed(1)}, overlapped ${over.at(-1)!.toFixed(1)}, pipeline ${agent.at(-1)!.toFixed(1)} frames/s; p99 ${p99.at(-1)!.toFixed(1)} ms at ${opts.cameraFps} frames/s, ${loadedP99.at(-1)!.toFixed(1)} ms at ${Math.round(opts.load * 100)}% load`);
    }
  } finally {
    await rig.stop();
    await bare.release();
  }
  const { concurrency, queueSize } = rig.config.pipeline;
  const model = rig.config.models[0]!;
  const setup = `${opts.frames} frames after ${opts.warm} warm-up, concurrency ${concurrency}, queue ${queueSize}, ${model.workers} inference worker(s) of ${model.threads} thread(s), outbox batch ${rig.config.buffer.batchSize}/linger ${rig.config.buffer.lingerMs} ms; drift on, explanations on a ${EXPLAIN_SAMPLE * 100}% sample (${rig.explained} explained, ${rig.explainSkipped} skipped over budget or busy), SQLite and MQTT on`;
  const stageNote = ['queue', 'preprocess', 'inference', 'commit']
    .map((st) => `${st} ${stageRuns.map((r) => (r[st] ?? Number.NaN).toFixed(1)).join('/')}`)
    .join('; ');
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
      note: `${opts.latencyFrames} frames arriving at ${opts.cameraFps} frames/s (a camera's rate) per repetition; p50 ${p50.map((v) => v.toFixed(1)).join('/')} ms; ${dropped} frames dropped; median ms per stage: ${stageNote}`,
    }),
    figure({
      name: 'latency arrival→commit p99, loaded',
      unit: 'ms',
      better: 'lower',
      agent: loadedP99,
      baseline: frameMs,
      baselineName: 'bare decode+inference',
      note: `${opts.latencyFrames} frames offered at ${Math.round(opts.load * 100)}% of the pipeline's median throughput (context, no target); p50 ${loadedP50.map((v) => v.toFixed(1)).join('/')} ms; ${loadedDropped} frames dropped`,
    }),
  ];
}
