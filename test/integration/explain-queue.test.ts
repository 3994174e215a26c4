import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import sharp from 'sharp';
import { ModelSchema } from '../../agent/config/schema.js';
import { encodeModel, writeModelFile } from '../../agent/demo/onnx-builder.js';
import { CpuBudget } from '../../agent/explain/cpu-budget.js';
import { ExplainQueue, type IdleGate } from '../../agent/explain/explain-queue.js';
import { explainImage } from '../../agent/explain/image-explainer.js';
import { ExplainPolicy } from '../../agent/explain/policy.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline } from '../../agent/pipeline/image-pipeline.js';
import { Counters } from '../../agent/counters.js';
import { systemClock } from '../../agent/clock.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { occlusionHeat } from '../../protocol/explanations.js';
import { defectModelConfig } from '../helpers/defect-model-config.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });
const always: IdleGate = { tryIdle: () => () => {} };

test('policy: configured classes always, every prediction during an alarm, a random share of the rest', () => {
  const policy = new ExplainPolicy({ classes: ['defect'], onAlarm: true, sampleRate: 0.1 }, mulberry32(1));
  assert.equal(policy.reason('defect'), 'class');
  let sampled = 0;
  for (let i = 0; i < 5000; i++) if (policy.reason('ok') === 'sample') sampled++;
  assert.ok(sampled > 400 && sampled < 600, `${sampled} of 5000 sampled at 10%`);
  policy.setAlarm(true);
  assert.equal(policy.reason('ok'), 'alarm');
  policy.setAlarm(false);
  const quiet = new ExplainPolicy({ classes: [], onAlarm: false, sampleRate: 0 });
  quiet.setAlarm(true);
  assert.equal(quiet.reason('ok'), undefined, 'onAlarm off: an alarm changes nothing');
});

test('the CPU budget caps explanation work at its share of live inference time; the rest is skipped and counted', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'explain-budget-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const model = await ImageClassifierModel.load(await defectModelConfig(dir), dir);
  t.after(() => model.release());
  const share = 3;
  const budget = new CpuBudget(share, 10_000);
  const queue = new ExplainQueue({ gate: always, capacity: 64, log });
  queue.start();
  let earned = 0;
  let mean = 0;
  let longest = 0;
  const settings = { grid: 6, maxPatch: 1, fill: 'mean' as const, overlay: false, batchSize: 8 };
  for (let i = 0; i < 60; i++) {
    const image = await encodePartJpeg(renderPart(i, { width: 640, height: 480, defectRate: 1, seed: 3 }));
    const t0 = performance.now();
    await model.classify(image);
    const ms = performance.now() - t0;
    earned += ms;
    budget.earn(ms);
    mean += (ms - mean) / (i + 1);
    queue.offer({
      model: 'defect',
      seq: Promise.resolve(i + 1),
      estimateMs: mean * 38,
      budget,
      run: async (turn) => {
        const j0 = performance.now();
        await explainImage(model, image, settings, turn);
        longest = Math.max(longest, performance.now() - j0);
      },
    });
    // Let the queue work between frames, as the idle pipeline would.
    await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor('every offer to be settled', () => queue.stats.explained + queue.stats.skippedBudget + queue.stats.skippedBusy + queue.stats.failed === 60, 60_000);
  await queue.stop();
  const s = queue.stats;
  t.diagnostic(`inference ${earned.toFixed(0)} ms, explanation work ${s.workMs.toFixed(0)} ms (share ${share}); explained ${s.explained}, skipped over budget ${s.skippedBudget}`);
  assert.ok(s.explained > 0, 'some explanations fit');
  assert.ok(s.skippedBudget > 0, 'the rest were skipped and counted');
  assert.equal(s.explained + s.skippedBudget + s.skippedBusy + s.failed, 60, 'every offer accounted for');
  assert.ok(s.workMs <= share * earned + longest, `work ${s.workMs} ms exceeds ${share} × ${earned} ms + one explanation (${longest} ms)`);
});

test('explanations take a slot only while no frame is in flight or waiting; a frame arriving meanwhile takes the other slot', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'explain-slot-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const model = await ImageClassifierModel.load(await defectModelConfig(dir), dir);
  t.after(() => model.release());
  const queue = new FrameQueue(4);
  let committed = 0;
  const pipeline = new ImagePipeline({
    routes: [{ source: 'cam', queue, models: [model] }],
    sink: { add: async () => ++committed },
    events: { record: () => {} },
    counters: new Counters(),
    clock: systemClock,
    log,
    concurrency: 2,
  });
  await pipeline.start();
  t.after(() => pipeline.stop());
  const held = pipeline.tryIdle();
  assert.ok(held, 'an idle pipeline lends a slot');
  assert.equal(pipeline.tryIdle(), undefined, 'only while nothing else is in flight');
  // A frame arriving while the explanation holds its slot goes straight into the other one.
  const image = await encodePartJpeg(renderPart(1, { width: 640, height: 480, defectRate: 1, seed: 3 }));
  const settled = new Promise<void>((resolve) => queue.offer({ source: 'cam', id: 'f1', data: image, ts: Date.now(), arrivedAt: systemClock.monotonic(), settle: () => resolve() }));
  await settled;
  assert.equal(committed, 1, 'the live frame was committed while the slot was lent');
  held();
  // Every model run of an explanation asks the gate first.
  const gateCounts = { asked: 0, granted: 0, runs: 0 };
  const counting: IdleGate = {
    tryIdle: () => {
      gateCounts.asked++;
      const r = pipeline.tryIdle();
      if (r) gateCounts.granted++;
      return r;
    },
  };
  const runs = model.scoreInputs.bind(model);
  model.scoreInputs = async (inputs) => {
    gateCounts.runs += inputs.length;
    return runs(inputs);
  };
  const q = new ExplainQueue({ gate: counting, capacity: 4, log });
  q.start();
  const budget = new CpuBudget(1000, 1_000_000);
  budget.earn(1000);
  q.offer({ model: 'defect', seq: Promise.resolve(1), estimateMs: 1, budget, run: (turn) => explainImage(model, image, { grid: 6, maxPatch: 1, fill: 'mean', overlay: false, batchSize: 8 }, turn).then(() => undefined) });
  await waitFor('the explanation', () => q.stats.explained === 1, 30_000);
  await q.stop();
  // One turn per model run (after the batch probe, which scores two copies in one turn), so a
  // frame that arrives meanwhile competes with at most one inference for the CPU.
  assert.equal(gateCounts.granted, 1 /* preprocess */ + 1 /* probe */ + 1 /* whole image */ + 36 /* cells */, `${JSON.stringify(gateCounts)}`);
  assert.equal(gateCounts.runs, 2 + 1 + 36);
});

test('a model with a free batch dimension scores the covered images in batches through the same session, with the same map', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'explain-batch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Bright-spot detector: a 3 × 3 centre-minus-surround filter, its strongest response, a logistic head.
  const surround = [-1, -1, -1, -1, 8, -1, -1, -1, -1].map((v) => v / 8);
  const bytes = encodeModel({
    name: 'spot',
    inputs: [{ name: 'image', shape: ['batch', 1, 24, 32] }],
    outputs: [{ name: 'p', shape: ['batch', 2] }],
    initializers: [
      { name: 'k', dims: [1, 1, 3, 3], data: surround },
      { name: 'w', dims: [1, 2], data: [0, 40] },
      { name: 'b', dims: [2], data: [0, -2] },
    ],
    nodes: [
      { op: 'Conv', inputs: ['image', 'k'], outputs: ['r'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { op: 'GlobalMaxPool', inputs: ['r'], outputs: ['m'] },
      { op: 'Flatten', inputs: ['m'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'w', 'b'], outputs: ['z'] },
      { op: 'Softmax', inputs: ['z'], outputs: ['p'], attrs: { axis: { int: 1 } } },
    ],
  });
  const path = await writeModelFile(dir, 'spot.onnx', bytes);
  const config = ModelSchema.parse({ name: 'spot', path, labels: ['plain', 'spot'], preprocess: { width: 32, height: 24, channels: 'GRAY' } });
  const pixels = Buffer.alloc(32 * 24, 60);
  pixels[17 * 32 + 25] = 255;
  const image = await sharp(pixels, { raw: { width: 32, height: 24, channels: 1 } }).png().toBuffer();
  const batched = await ImageClassifierModel.load(config, dir);
  t.after(() => batched.release());
  const now = <T>(work: () => Promise<T>) => work();
  const a = await explainImage(batched, image, { grid: 4, maxPatch: 1, fill: 'mean', overlay: false, batchSize: 8 }, now);
  assert.equal(a.batched, true, 'the perturbed images went as batches');
  assert.equal(a.label, 'spot');
  const b = await explainImage(batched, image, { grid: 4, maxPatch: 1, fill: 'mean', overlay: false, batchSize: 1 }, now);
  assert.deepEqual(occlusionHeat(a), occlusionHeat(b), 'batches of 8 and of 1 give the same map');
  const heat = occlusionHeat(a);
  const hottest = heat.indexOf(Math.max(...heat));
  // The spot at (25, 17) lies in cell row 2 (rows 12–17), column 3 (columns 24–31).
  assert.equal(hottest, 2 * 4 + 3);
});

test('a steady camera whose gaps are all shorter than a turn does not starve the explanations: after its patience a turn takes any idle moment', async () => {
  // The pipeline is idle between frames, but its next frame is always due within 5 ms.
  const asked: number[] = [];
  const shortGaps: IdleGate = {
    tryIdle: (forMs = 0) => {
      asked.push(forMs);
      return forMs < 5 ? () => {} : undefined;
    },
  };
  const turns = 12;
  const runJob = async (patienceMs: number, withinMs: number) => {
    const queue = new ExplainQueue({ gate: shortGaps, capacity: 4, log, patienceMs });
    queue.start();
    const budget = new CpuBudget(1, 10_000);
    budget.earn(10);
    let finished = false;
    queue.offer({
      model: 'defect',
      seq: Promise.resolve(1),
      estimateMs: 1,
      budget,
      run: async (turn) => {
        // Each piece of work takes 20 ms, longer than any gap.
        for (let i = 0; i < turns; i++) await turn(() => new Promise((r) => setTimeout(r, 20)));
        finished = true;
      },
    });
    const t0 = performance.now();
    while (!finished && performance.now() - t0 < withinMs) await new Promise((r) => setTimeout(r, 10));
    await queue.stop();
    return { finished, stats: queue.stats };
  };
  // Without patience, the turns stop once their moving mean outgrows the gaps.
  const stuck = await runJob(Number.POSITIVE_INFINITY, 1500);
  assert.equal(stuck.finished, false, 'with unbounded patience the job waits for a gap that never comes');
  // With it, every turn runs, each after waiting at most its patience.
  asked.length = 0;
  const t0 = performance.now();
  const flowing = await runJob(50, 5000);
  assert.equal(flowing.finished, true, 'the job finished');
  assert.equal(flowing.stats.explained, 1);
  assert.ok(asked.includes(0), 'an impatient turn asked for any idle moment');
  assert.ok(performance.now() - t0 < turns * (20 + 50) + 1000, 'no turn waited much beyond its patience');
});
