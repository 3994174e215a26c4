import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connectAsync } from 'mqtt';
import sharp from 'sharp';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema, ModelSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { writeModelFile } from '../../agent/demo/onnx-builder.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { decode } from '../../central/ingest/messages.js';
import type { PredictionRecord } from '../../protocol/predictions.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { buildNanModel, buildSlowModel } from '../helpers/failing-models.js';
import { partJpeg } from '../helpers/images.js';
import { parseExposition } from '../helpers/prometheus.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The fail-safe chain on a running agent with real ONNX models: a serving model that
 * answers NaN, or that takes far longer than its deadline, is replaced by its fallback
 * model for those inputs; without a fallback, a rule on the image statistics answers, and
 * what no rule covers is marked for manual inspection. The store, the status API, the
 * synced batches and the metrics all say which step made each prediction.
 */

const PARTS = 6;

interface Row {
  seq: number;
  label: string;
  score: number;
  step: string;
  payload: string;
}

async function runAgent(t: TestContext, broker: TestBroker, dir: string, model: Record<string, unknown>, images: Buffer[]): Promise<{ agent: Agent; rows: () => Row[]; synced: PredictionRecord[] }> {
  const inDir = join(dir, 'in');
  await mkdir(inDir, { recursive: true });
  const config = ConfigSchema.parse({
    deviceId: 'gw-failsafe',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'folder', path: inDir, stableMs: 50, pollMs: 20 }],
    models: [model],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion, batch: { lingerMs: 10 } },
    status: { host: '127.0.0.1', port: 0 },
    segments: { enabled: false },
  });
  // What central receives: the predictions batches, decoded as ingest decodes them.
  const synced: PredictionRecord[] = [];
  const central = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion });
  t.after(() => central.endAsync());
  central.on('message', (topic, payload) => {
    const m = decode('edge/v1', topic, payload);
    if (m.ok && m.value.kind === 'predictions') synced.push(...m.value.value.predictions);
  });
  await central.subscribeAsync('edge/v1/gw-failsafe/predictions', { qos: 1 });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  t.after(() => agent.stop());
  for (const [i, image] of images.entries()) await writeFile(join(inDir, `frame-${String(i).padStart(2, '0')}.jpg`), image);
  const rows = () => agent.store.database.prepare('SELECT seq, label, score, step, payload FROM predictions ORDER BY seq').all() as Row[];
  await waitFor(`${images.length} predictions`, () => rows().length === images.length, 60_000);
  await waitFor('every prediction synced', () => synced.length === images.length, 20_000);
  return { agent, rows, synced };
}

/** The defect detector's own answers for `images`, in order. */
async function fallbackAnswers(dir: string, images: Buffer[]): Promise<Array<{ label: string; score: number }>> {
  const model = await ImageClassifierModel.load(ModelSchema.parse(defectModelEntry(await writeDefectModel(join(dir, 'models')))), dir);
  try {
    const out = [];
    for (const image of images) out.push(await model.classify(image));
    return out;
  } finally {
    await model.release();
  }
}

/** Which of the images written a prediction is of (the folder source may take them in any order). */
function frameIndex(payload: PredictionRecord): number {
  return Number(/frame-(\d+)/.exec(payload.frameId)![1]);
}

async function metrics(agent: Agent) {
  return parseExposition(await (await fetch(`${agent.status!.url}/metrics`)).text());
}

test('a serving model that answers NaN is replaced by its fallback model, and every record says so', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'failsafe-nan-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const images = await Promise.all(Array.from({ length: PARTS }, (_, i) => partJpeg(i)));
  const expected = await fallbackAnswers(dir, images);
  const nan = await writeModelFile(join(dir, 'models'), 'nan.onnx', buildNanModel());
  const fallback = join(dir, 'models', 'defect-detector.onnx');
  const { agent, rows, synced } = await runAgent(t, broker, dir, { ...defectModelEntry(nan), failsafe: { fallback: { path: fallback, version: '0.9.0' } } }, images);

  for (const row of rows()) {
    const payload = JSON.parse(row.payload) as PredictionRecord;
    const i = frameIndex(payload);
    assert.equal(row.step, 'fallback', `frame ${i} was answered by the fallback model`);
    assert.equal(payload.step, 'fallback');
    assert.equal(payload.fallbackReason, 'nan');
    assert.equal(row.label, expected[i]!.label, `frame ${i}: the fallback model's label`);
    assert.ok(Math.abs(row.score - expected[i]!.score) < 1e-6, `frame ${i}: the fallback model's score`);
    assert.ok(Number.isFinite(row.score));
  }
  assert.deepEqual(synced.map((p) => [p.step, p.fallbackReason]), Array.from({ length: PARTS }, () => ['fallback', 'nan']), 'the synced batches carry the step');

  const listed = (await (await fetch(`${agent.status!.url}/api/predictions`)).json()) as { predictions: Array<{ step: string; flags: string[] }> };
  assert.ok(listed.predictions.length === PARTS && listed.predictions.every((p) => p.step === 'fallback' && p.flags.includes('failsafe_fallback')));
  const m = await metrics(agent);
  assert.deepEqual(m.get('edge_agent_fallback_share')?.samples.map((s) => [s.labels.model, s.value]), [['defect', 1]]);
  const steps = m.get('edge_agent_predictions_by_step_total')!.samples;
  assert.equal(steps.find((s) => s.labels.step === 'fallback')?.value, PARTS);
  assert.equal(steps.find((s) => s.labels.step === 'model')?.value, 0);
  const health = agent.snapshot().health;
  assert.ok(health.reasons.some((r) => /fail-safe in use: defect: 100 %/.test(r)), `the fallback share is a health input: ${health.reasons.join(' | ')}`);
  assert.notEqual(health.state, 'healthy');
  const engaged = agent.store.events.list({ kind: 'failsafe_engaged', limit: 10 });
  assert.equal(engaged.length, 1, 'one event when the chain engages, not one per frame');
  assert.match(engaged[0]!.message, /unusable \(nan\)/);
});

test('a serving model that overruns its deadline is replaced by its fallback for those inputs', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'failsafe-timeout-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const images = await Promise.all(Array.from({ length: PARTS }, (_, i) => partJpeg(i + 20)));
  const expected = await fallbackAnswers(dir, images);
  // Twelve full-resolution 9×9 convolutions over 16 channels: several times a 10 ms deadline even on an idle machine.
  const slow = await writeModelFile(join(dir, 'models'), 'slow.onnx', buildSlowModel());
  const fallback = join(dir, 'models', 'defect-detector.onnx');
  const { rows, synced } = await runAgent(t, broker, dir, { ...defectModelEntry(slow), failsafe: { timeoutMs: 10, fallback: { path: fallback } } }, images);
  for (const row of rows()) {
    const payload = JSON.parse(row.payload) as PredictionRecord;
    const i = frameIndex(payload);
    assert.equal(row.step, 'fallback', `frame ${i}`);
    assert.equal(payload.fallbackReason, 'timeout');
    assert.equal(row.label, expected[i]!.label, `frame ${i}: the fallback model's label`);
  }
  assert.ok(synced.every((p) => p.step === 'fallback' && p.fallbackReason === 'timeout'));
});

test('without a fallback model, a rule on the image statistics answers, and the rest needs manual inspection', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'failsafe-rules-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const black = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
  const images = [await partJpeg(1), black, await partJpeg(2), black];
  const nan = await writeModelFile(join(dir, 'models'), 'nan.onnx', buildNanModel());
  const { agent, rows } = await runAgent(t, broker, dir, { ...defectModelEntry(nan), failsafe: { rules: [{ stat: 'brightness', below: 0.05, label: 'no-part' }] } }, images);
  const got = rows()
    .sort((a, b) => frameIndex(JSON.parse(a.payload) as PredictionRecord) - frameIndex(JSON.parse(b.payload) as PredictionRecord))
    .map((r) => [r.step, r.label, r.score]);
  assert.deepEqual(got, [
    ['manual', 'needs_inspection', 0],
    ['rule', 'no-part', 1],
    ['manual', 'needs_inspection', 0],
    ['rule', 'no-part', 1],
  ]);
  const rule = rows().map((r) => JSON.parse(r.payload) as PredictionRecord).find((p) => p.step === 'rule')!;
  assert.equal(rule.fallbackReason, 'nan; rule brightness < 0.05');
  const manual = rows().find((r) => r.step === 'manual')!;
  const detail = (await (await fetch(`${agent.status!.url}/api/predictions/${manual.seq}`)).json()) as { step: string; label: string };
  assert.deepEqual([detail.step, detail.label], ['manual', 'needs_inspection']);
  const m = await metrics(agent);
  const steps = Object.fromEntries(m.get('edge_agent_predictions_by_step_total')!.samples.map((s) => [s.labels.step, s.value]));
  assert.deepEqual(steps, { model: 0, fallback: 0, rule: 2, manual: 2 });
});
