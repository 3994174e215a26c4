import { mkdirSync } from 'node:fs';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import type { BrokerRef } from './config.js';
import { liveWithBacklog, type LiveRun } from './drain-rig.js';
import { idleBusyThread } from './idle-busy-thread.js';
import type { BenchInputs } from './inputs.js';
import { figure, fmt, type Figure } from './report.js';
import { benchConfig } from './config.js';
import { rotate, spread } from './stats.js';

export interface DrainBenchOptions {
  reps: number;
  backlog: number;
  /** The camera's rate in the paced runs, as a share of the camera path's flat-out rate. */
  load: number;
}

type Runs = Record<'drain' | 'quiet' | 'busy' | 'paced' | 'pacedQuiet', LiveRun>;

/**
 * Backlog drain after an outage while live inference runs, in one process as on a gateway.
 * Each repetition runs, in rotating order:
 * - with a camera offering frames at `load` of the camera path's flat-out rate, as a
 *   plant's camera does: the backlog drained, and no backlog for as long. The targets
 *   apply here: the backlog drains in the capacity live inference leaves.
 * - with the camera path flat out (no spare capacity at all), for context: the backlog
 *   drained, no backlog, and no backlog beside a busy loop at nice 19 (what any background
 *   work costs live on a saturated gateway).
 */
export async function drainFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: DrainBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  mkdirSync(dir, { recursive: true });
  const config = benchConfig({ deviceId: 'drain-defaults', model: inputs.entry, dbPath: `${dir}/unused.db`, broker });
  const model = await ImageClassifierModel.load(config.models[0]!, inputs.baseDir);
  const all: Runs[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs: Partial<Runs> = {};
      const live = (name: string, backlog: number, minMs: number, paceFps?: number) =>
        liveWithBacklog(inputs, model, broker, dir, `${name}-${rep}`, backlog, minMs, paceFps ? { paceFps } : {});
      let quietMs = 3000;
      const flatOut = [
        async () => (runs.quiet = await live('quiet', 0, quietMs)),
        async () => {
          runs.drain = await live('drain', opts.backlog, 0);
          quietMs = Math.max(quietMs, runs.drain.seconds * 1000);
        },
        async () => (runs.busy = await idleBusyThread(() => live('busy', 0, quietMs))),
      ];
      for (const step of rotate(flatOut, rep)) await step();
      const paceFps = runs.quiet!.liveFps * opts.load;
      // The drain first: the run without a backlog then lasts as long as the drain did.
      runs.paced = await live('paced', opts.backlog, 0, paceFps);
      runs.pacedQuiet = await live('paced-quiet', 0, Math.max(2000, runs.paced.seconds * 1000), paceFps);
      const r = runs as Runs;
      all.push(r);
      progress(
        `drain rep ${rep + 1}/${opts.reps}: camera at ${paceFps.toFixed(1)} fps: ${Math.round(r.paced.drainRate)} pred/s in ${r.paced.seconds.toFixed(2)} s, ` +
          `live ${r.paced.liveFps.toFixed(1)} fps (${r.paced.dropped} dropped) against ${r.pacedQuiet.liveFps.toFixed(1)} fps (${r.pacedQuiet.dropped} dropped); ` +
          `flat out: ${Math.round(r.drain.drainRate)} pred/s, live ${r.drain.liveFps.toFixed(1)} fps; alone ${r.quiet.liveFps.toFixed(1)} fps; beside a busy thread ${r.busy.liveFps.toFixed(1)} fps`,
      );
    }
  } finally {
    await model.release();
  }
  const b = config.broker;
  const setup = `backlog of ${opts.backlog} predictions (~320 B), backlog batches of ${b.batch.backlogMaxCount}, ${b.inflight} in flight, ${b.compression}, backlog limit ${b.backlogRatePerS}/s`;
  const col = (k: keyof Runs, f: (r: LiveRun) => number) => all.map((r) => f(r[k]));
  const paired = (a: keyof Runs, base: keyof Runs) => {
    const s = spread(all.map((r) => r[a].liveFps / r[base].liveFps));
    return `${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`;
  };
  const dropped = (k: keyof Runs) => all.reduce((n, r) => n + r[k].dropped, 0);
  const load = `${Math.round(opts.load * 100)}%`;
  return [
    figure({
      name: `backlog drain, camera at ${load} of capacity`,
      unit: 'pred/s',
      better: 'higher',
      agent: col('paced', (r) => r.drainRate),
      baseline: col('drain', (r) => r.drainRate),
      baselineName: 'with the camera path flat out',
      target: { of: 'value', op: '>=', limit: 100_000 },
      note: `${setup}; a camera offers frames at ${load} of the camera path's flat-out rate while the backlog drains`,
    }),
    figure({
      name: `live throughput while draining, camera at ${load}`,
      unit: 'frames/s',
      better: 'higher',
      agent: col('paced', (r) => r.liveFps),
      baseline: col('pacedQuiet', (r) => r.liveFps),
      baselineName: 'same camera, no backlog',
      target: { of: 'ratio', op: '>=', limit: 0.9 },
      note: `frames committed per second; ratio ≥ 0.9 is a live loss under 10%; paired per-rep ratios min / median / max ${paired('paced', 'pacedQuiet')}; frames dropped for newer ones ${dropped('paced')} while draining, ${dropped('pacedQuiet')} without`,
    }),
    figure({
      name: 'live throughput while draining, camera path flat out',
      unit: 'frames/s',
      better: 'higher',
      agent: col('drain', (r) => r.liveFps),
      baseline: col('quiet', (r) => r.liveFps),
      baselineName: 'live alone',
      note:
        `context, no spare capacity: paired per-rep ratios ${paired('drain', 'quiet')}; beside a busy loop at nice 19 and nothing else live keeps ${paired('busy', 'quiet')}; ` +
        `median CPU of the process ${fmt(spread(col('drain', (r) => r.cores)).median)} cores draining, ${fmt(spread(col('quiet', (r) => r.cores)).median)} alone`,
    }),
  ];
}
