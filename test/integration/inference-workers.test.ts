import assert from 'node:assert/strict';
import type { Tensor } from 'onnxruntime-node';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import { Counters } from '../../agent/counters.js';
import type { FrameOutcome } from '../../agent/frame.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { ModelSession } from '../../agent/inference/model-session.js';
import { AgentMetrics } from '../../agent/metrics/agent-metrics.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline, type PipelineStage } from '../../agent/pipeline/image-pipeline.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { defectModelConfig } from '../helpers/defect-model-config.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: 'silent' });

async function parts(n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate: 0.5, seed: 3 })));
  return out;
}

test('worker-thread sessions give the same scores as the event loop, start with the first runs and end at release', async (t) => {
  const dir = await tempDir(t);
  const config = await defectModelConfig(dir);
  const inline = await ModelSession.load(config, { baseDir: dir });
  const pooled = await ModelSession.load(config, { baseDir: dir, workers: 2 });
  t.after(() => Promise.all([inline.release(), pooled.release()]));
  const pre = new ImagePreprocessor(config.preprocess);
  const tensors = await Promise.all((await parts(6)).map(async (p) => (await pre.toTensor(p)).tensor));

  assert.equal(pooled.workersStarted, 0, 'an idle model holds no workers');
  const expected = (await Promise.all(tensors.map((x) => inline.run(x)))).map((s) => [...s]);
  // The first run does not wait for a worker: it runs here while the first worker loads.
  assert.deepEqual([...(await pooled.run(tensors[0]!))], expected[0]);
  assert.equal(pooled.workersStarted, 1);
  // Six at once keep the loaded worker busy, so the second one starts.
  await waitFor('both live workers', async () => {
    const got = await Promise.all(tensors.map((x) => pooled.run(x)));
    assert.deepEqual(got.map((s) => [...s]), expected);
    return pooled.workersStarted === 2;
  }, 30_000, 20);
  await waitFor('the background worker', async () => {
    assert.deepEqual([...(await pooled.run(tensors[1]!, { background: true }))], expected[1], 'a background run answers the same');
    return pooled.workersStarted === 3;
  }, 30_000, 20);
  // The input was copied to the worker, not taken from the caller.
  assert.equal(tensors[0]!.data.length, tensors[0]!.dims.reduce((a, b) => a * b, 1));

  await pooled.release();
  assert.equal(pooled.workersStarted, 0, 'release ends the workers');
  await assert.rejects(pooled.run(tensors[0]!), (err: Error & { code?: string }) => err.code === 'E_MODEL_RELEASED');
});

test('an explained model starts its background worker with the first live run, not at its first explanation', async (t) => {
  const dir = await tempDir(t);
  const config = await defectModelConfig(dir);
  const explained = await ModelSession.load(config, { baseDir: dir, workers: 1, explained: true });
  const plain = await ModelSession.load(config, { baseDir: dir, workers: 1 });
  t.after(() => Promise.all([explained.release(), plain.release()]));
  const tensor = (await new ImagePreprocessor(config.preprocess).toTensor((await parts(1))[0]!)).tensor;
  assert.equal(explained.workersStarted, 0, 'an idle model holds no workers, explained or not');
  await explained.run(tensor);
  await plain.run(tensor);
  assert.equal(explained.workersStarted, 2, 'the live worker and the background one');
  assert.equal(plain.workersStarted, 1, 'a model without explanations starts no background worker');
});

test('a worker that cannot load its session is replaced; runs meanwhile are served on the event loop', async (t) => {
  const dir = await tempDir(t);
  const config = await defectModelConfig(dir);
  const session = await ModelSession.load(config, { baseDir: dir, workers: 1 });
  t.after(() => session.release());
  const pre = new ImagePreprocessor(config.preprocess);
  const good = (await pre.toTensor((await parts(1))[0]!)).tensor;
  const { rename } = await import('node:fs/promises');
  const expected = [...(await session.run(good))];
  // The file goes away after the load: a worker's own session cannot be made.
  await session.release();
  const again = await ModelSession.load(config, { baseDir: dir, workers: 1 });
  t.after(() => again.release());
  await rename(resolve(dir, config.path), join(dir, 'moved.onnx'));
  for (let i = 0; i < 20; i++) assert.deepEqual([...(await again.run(good))], expected, 'served on the event loop');
  await waitFor('the failed worker to be dropped', () => again.workersStarted === 0, 10_000);
  await rename(join(dir, 'moved.onnx'), resolve(dir, config.path));
  await waitFor('a fresh worker', async () => {
    assert.deepEqual([...(await again.run(good))], expected);
    return again.workersStarted === 1;
  }, 30_000, 20);
});

test('a wrong input fails that run with E_INFERENCE naming the model; the worker keeps serving', async (t) => {
  const dir = await tempDir(t);
  const config = await defectModelConfig(dir);
  const session = await ModelSession.load(config, { baseDir: dir, workers: 1 });
  t.after(() => session.release());
  const pre = new ImagePreprocessor(config.preprocess);
  const good = (await pre.toTensor((await parts(1))[0]!)).tensor;
  const { Tensor } = await import('onnxruntime-node');
  const wrong = new Tensor('float32', new Float32Array(12), [1, 3, 2, 2]);
  await assert.rejects(session.run(wrong), (err: Error & { code?: string }) => err.code === 'E_INFERENCE' && err.message.includes(config.name));
  assert.equal(session.workersStarted, 1, 'the worker survived the refused input');
  assert.equal((await session.run(good)).length > 0, true);
});

test('the pipeline reports every stage of every frame, and the metrics keep them per stage', async (t) => {
  const dir = await tempDir(t);
  const model = await ImageClassifierModel.load(await defectModelConfig(dir), dir);
  t.after(() => model.release());
  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 1000 }, log });
  t.after(() => store.stop());
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 8, lingerMs: 5 });
  const queue = new FrameQueue(4);
  const metrics = new AgentMetrics(systemClock);
  const seen = new Map<PipelineStage, number>();
  const pipeline = new ImagePipeline({
    routes: [{ source: 'cam1', queue, models: [model] }],
    sink: writer,
    events: store.events,
    counters: new Counters(),
    clock: systemClock,
    log,
    concurrency: 3,
    onStage: (stage, ms) => {
      assert.ok(ms >= 0 && Number.isFinite(ms), `${stage}: ${ms}`);
      seen.set(stage, (seen.get(stage) ?? 0) + 1);
      metrics.stage(stage, ms);
    },
  });
  await pipeline.start();
  const outcomes: FrameOutcome[] = [];
  const images = await parts(8);
  for (const [i, data] of images.entries()) await queue.put({ source: 'cam1', id: `p${i}`, data, ts: Date.now(), arrivedAt: performance.now(), settle: (o) => outcomes.push(o) });
  await pipeline.stop();
  await writer.stop();
  assert.equal(outcomes.filter((o) => o.ok).length, 8);
  for (const stage of ['queue', 'preprocess', 'inference', 'commit'] as const) {
    assert.equal(seen.get(stage), 8, `${stage} once per frame`);
    assert.equal(metrics.stages.get(stage)?.count, 8);
  }
});

/** The demo model with one live worker (and its background one), and one preprocessed part to run. */
async function workerModel(t: TestContext): Promise<{ model: ModelSession; tensor: Tensor }> {
  const dir = await tempDir(t);
  const config = await defectModelConfig(dir);
  const model = await ModelSession.load(config, { baseDir: dir, workers: 1 });
  t.after(() => model.release());
  const [frame] = await parts(1);
  const { tensor } = await new ImagePreprocessor(config.preprocess).toTensor(frame!);
  return { model, tensor };
}

test('a worker thread collects its own heap as it runs, so its garbage does not pile up run after run', async (t) => {
  const { model, tensor } = await workerModel(t);
  await waitFor('the live worker', async () => {
    await model.run(tensor);
    return model.workersStarted === 1;
  }, 30_000, 20);
  const runs = async (n: number) => {
    for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, () => model.run(tensor)));
  };
  await runs(1000);
  const [before] = await model.workerHeaps();
  assert.ok(before && before.usedBytes > 1e6 && before.oldBytes > 0, `the worker reports its heap (${JSON.stringify(before)})`);
  // Each run leaves garbage that outlives it in the worker's old generation, about a third
  // of a megabyte over 10,000 runs, which V8 alone would not collect before the heap's limit.
  await runs(10_000);
  const [after] = await model.workerHeaps();
  const grew = (after!.oldBytes - before.oldBytes) / 1e6;
  assert.ok(grew < 0.15, `the worker's old generation grew by ${grew.toFixed(2)} MB over 10,000 runs`);
});

test('the background (explanation) worker frees the inputs copied into it after each run', async (t) => {
  const { model, tensor } = await workerModel(t);
  const inputBytes = (tensor.data as Float32Array).byteLength;
  const RUNS = 40;
  for (let i = 0; i < RUNS; i++) await model.run(tensor, { background: true });
  const heaps = await model.workerHeaps();
  assert.equal(heaps.length, 1, 'only the background worker runs: no live run was made');
  const background = heaps[0]!;
  // A background run copies its input in. Background runs are too few for V8 to collect the
  // copies by itself: without the worker's own collection after each run, all 40 were still held.
  assert.ok(background.buffersBytes < 3 * inputBytes, `the background worker holds ${(background.buffersBytes / 1e3).toFixed(0)} KB of buffers after ${RUNS} runs of a ${(inputBytes / 1e3).toFixed(0)} KB input`);
});
