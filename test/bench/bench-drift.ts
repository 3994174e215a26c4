import { pino } from 'pino';
import { openDatabase } from '../../agent/buffer/database.js';
import { EventLog } from '../../agent/buffer/events.js';
import { systemClock } from '../../agent/clock.js';
import { DriftSchema } from '../../agent/config/drift-schema.js';
import { inputStats } from '../../agent/drift/input-stats.js';
import { DriftMonitor } from '../../agent/drift/monitor.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import { ImagePreprocessor, type PreprocessedImage } from '../../agent/preprocess/image.js';
import { BareModel, frameAt } from './bare-frame.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { rotate } from './stats.js';

export interface DriftBenchOptions {
  reps: number;
  /** Inferences timed per repetition for the baseline. */
  runs: number;
  /** Samples measured and judged per repetition. */
  samples: number;
}

/**
 * What drift adds per prediction (input statistics, entropy, binning into the window and
 * the window's judgement, stored in SQLite) against the bare inference it rides on. The
 * target is under 1% of the bare inference time.
 */
export async function driftFigures(inputs: BenchInputs, dbPath: string, opts: DriftBenchOptions): Promise<Figure[]> {
  const bare = await BareModel.load(inputs.modelPath, inputs.model.preprocess, inputs.model.threads, inputs.model.input);
  const pre = new ImagePreprocessor(inputs.model.preprocess);
  const { width, height } = inputs.model.preprocess;
  const images: PreprocessedImage[] = [];
  for (let i = 0; i < 32; i++) images.push(await pre.toTensor(frameAt(inputs.frames, i)));
  const scores = new Float32Array(1000).map((_, i) => (i === 3 ? 0.9 : 0.1 / 999));
  const builder = new ProfileBuilder({ labels: ['a', 'b'] });
  for (const img of images) {
    const s = inputStats(img.pixels, width, height, pre.channels, scores, false);
    builder.add({ image: s.image, label: 'a', top1: 0.9, entropy: s.entropy });
  }
  const db = openDatabase({ path: dbPath, busyTimeoutMs: 1000 });
  const log = pino({ level: 'silent' });
  const monitor = new DriftMonitor({
    model: 'bench',
    version: () => '1',
    profile: builder.build(),
    config: DriftSchema.parse({ window: { count: 500 } }),
    windows: new DriftWindowStore(db),
    samples: undefined,
    events: new EventLog({ db, log }),
    clock: systemClock,
    log,
  });
  const tensor = await bare.preprocess(frameAt(inputs.frames, 0));
  const inference: number[] = [];
  const drift: number[] = [];
  try {
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs = [
        async () => inference.push(await bare.inference(tensor, opts.runs)),
        async () => {
          const t0 = performance.now();
          for (let i = 0; i < opts.samples; i++) {
            const img = images[i % images.length]!;
            const s = inputStats(img.pixels, width, height, pre.channels, scores, false);
            monitor.observe({ image: s.image, label: i % 5 === 0 ? 'b' : 'a', top1: 0.9, entropy: s.entropy });
          }
          drift.push((performance.now() - t0) / opts.samples);
        },
      ];
      for (const run of rotate(runs, rep)) await run();
    }
  } finally {
    await bare.release();
    db.close();
  }
  return [
    figure({
      name: 'drift work per prediction',
      unit: 'ms/prediction',
      better: 'lower',
      agent: drift,
      baseline: inference,
      baselineName: `bare ${inputs.kind} inference`,
      target: { of: 'ratio', op: '<=', limit: 0.01 },
      note: `input statistics, entropy over 1000 scores, window binning and judgement every 500, on ${width}×${height} inputs`,
    }),
  ];
}
