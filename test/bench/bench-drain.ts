import { mkdirSync } from 'node:fs';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import type { BrokerRef } from './config.js';
import { liveWithBacklog } from './drain-rig.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { benchConfig } from './config.js';

export interface DrainBenchOptions {
  reps: number;
  backlog: number;
}

/**
 * Backlog drain after an outage while live inference runs, in one process as on a gateway:
 * each repetition runs the camera path flat out once with a backlog to drain and once
 * without, for the same time, so the live loss is a ratio of two runs side by side.
 */
export async function drainFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: DrainBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  mkdirSync(dir, { recursive: true });
  const config = benchConfig({ deviceId: 'drain-defaults', model: inputs.entry, dbPath: `${dir}/unused.db`, broker });
  const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
  const drain: number[] = [];
  const live: number[] = [];
  const alone: number[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const busy = await liveWithBacklog(inputs, model, broker, dir, `drain-${rep}`, opts.backlog, 0);
      const quiet = await liveWithBacklog(inputs, model, broker, dir, `quiet-${rep}`, 0, busy.seconds * 1000);
      drain.push(busy.drainRate);
      live.push(busy.liveFps);
      alone.push(quiet.liveFps);
      progress(`drain rep ${rep + 1}/${opts.reps}: ${Math.round(busy.drainRate)} pred/s drained in ${busy.seconds.toFixed(2)} s; live ${busy.liveFps.toFixed(1)} vs ${quiet.liveFps.toFixed(1)} frames/s alone`);
    }
  } finally {
    await model.release();
  }
  const b = config.broker;
  const setup = `backlog of ${opts.backlog} predictions (~320 B), batches of ${b.batch.maxCount}, ${b.inflight} in flight, ${b.compression}, backlog limit ${b.backlogRatePerS}/s`;
  return [
    figure({ name: 'backlog drain during live inference', unit: 'pred/s', better: 'higher', agent: drain, baseline: drain, baselineName: '(absolute)', target: { of: 'value', op: '>=', limit: 100_000 }, note: setup }),
    figure({ name: 'live throughput while draining', unit: 'frames/s', better: 'higher', agent: live, baseline: alone, baselineName: 'live alone', target: { of: 'ratio', op: '>=', limit: 0.9 }, note: 'camera path flat out; ratio ≥ 0.9 is a live loss under 10%' }),
  ];
}
