import type { BrokerRef } from './config.js';
import { ExplainRig } from './explain-rig.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { median, quantile, rotate } from './stats.js';

export interface ExplainBenchOptions {
  reps: number;
  warm: number;
  frames: number;
  /** Paced rate for the latency runs, frames/s as a share of the throughput without explanations. */
  load: number;
}

/**
 * Live throughput and latency with explanations on (a 5% sample, and every prediction at a
 * CPU share of 1) against the same pipeline with them off, in the same process run,
 * repetitions interleaved in rotating order.
 */
export async function explainFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: ExplainBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  const rig = await ExplainRig.create(inputs, broker, dir);
  const sample = ExplainRig.explain({ sampleRate: 0.05 });
  const every = ExplainRig.explain({ sampleRate: 1, cpuShare: 1 });
  const off = { fps: [] as number[], p99: [] as number[] };
  const on = { fps: [] as number[], p99: [] as number[], explained: 0, skipped: 0 };
  const all = { fps: [] as number[], p99: [] as number[], explained: 0, skipped: 0 };
  const { frames } = inputs;
  let pace: number | undefined;
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs = [
        async () => {
          const r = await rig.run(frames, opts.warm, opts.frames, pace, undefined);
          off.fps.push(r.fps);
          if (pace !== undefined) off.p99.push(quantile(r.latencyMs, 0.99));
        },
        async () => {
          const r = await rig.run(frames, opts.warm, opts.frames, pace, sample);
          on.fps.push(r.fps);
          if (pace !== undefined) on.p99.push(quantile(r.latencyMs, 0.99));
          on.explained += r.explained;
          on.skipped += r.skipped;
        },
        async () => {
          const r = await rig.run(frames, opts.warm, opts.frames, pace, every);
          all.fps.push(r.fps);
          if (pace !== undefined) all.p99.push(quantile(r.latencyMs, 0.99));
          all.explained += r.explained;
          all.skipped += r.skipped;
        },
      ];
      for (const run of rotate(runs, rep)) await run();
      // The first repetition finds the rate; latency is measured from the second on.
      pace ??= median(off.fps) * opts.load;
      progress(`explain rep ${rep + 1}/${opts.reps}: off ${off.fps.at(-1)!.toFixed(1)}, 5% ${on.fps.at(-1)!.toFixed(1)}, every ${all.fps.at(-1)!.toFixed(1)} frames/s`);
    }
  } finally {
    await rig.stop();
  }
  const noteOf = (x: { explained: number; skipped: number }) => `${x.explained} explained, ${x.skipped} skipped (budget or busy)`;
  const figures = [
    figure({ name: 'throughput, explanations on a 5% sample', unit: 'frames/s', better: 'higher', agent: on.fps, baseline: off.fps, baselineName: 'explanations off', target: { of: 'ratio', op: '>=', limit: 0.9 }, note: noteOf(on) }),
    figure({ name: 'throughput, every prediction explained (cpuShare 1)', unit: 'frames/s', better: 'higher', agent: all.fps, baseline: off.fps, baselineName: 'explanations off', note: noteOf(all) }),
  ];
  if (off.p99.length > 0) {
    const paced = `frames at ${Math.round(opts.load * 100)}% of the throughput without explanations`;
    figures.push(
      figure({ name: 'latency p99, explanations on a 5% sample', unit: 'ms', better: 'lower', agent: on.p99, baseline: off.p99, baselineName: 'explanations off', note: paced }),
      figure({ name: 'latency p99, every prediction explained', unit: 'ms', better: 'lower', agent: all.p99, baseline: off.p99, baselineName: 'explanations off', note: paced }),
    );
  }
  return figures;
}
