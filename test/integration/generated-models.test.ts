import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { buildDefectModel, DEFECT_MODEL, writeDefectModel } from '../../agent/demo/defect-model.js';
import { buildTabularModel, TABULAR_MODEL, vibrationReference, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { encodePartJpeg, renderPart, type RenderedPart } from '../../agent/sources/camera/synthetic-part.js';

const { width: W, height: H } = DEFECT_MODEL.preprocess;

/** What the agent does to a camera JPEG before the defect model sees it. */
async function toInput(part: RenderedPart): Promise<ort.Tensor> {
  const jpeg = await encodePartJpeg(part);
  const gray = await sharp(jpeg).resize(W, H, { fit: 'fill' }).grayscale().raw().toBuffer();
  assert.equal(gray.length, W * H);
  const x = new Float32Array(W * H);
  for (let i = 0; i < x.length; i++) x[i] = gray[i]! / 255;
  return new ort.Tensor('float32', x, [1, 1, H, W]);
}

async function defectProbability(session: ort.InferenceSession, part: RenderedPart): Promise<number> {
  const out = await session.run({ [DEFECT_MODEL.input]: await toInput(part) });
  const p = out[DEFECT_MODEL.output]!.data as Float32Array;
  assert.equal(p.length, 2);
  assert.ok(Math.abs(p[0]! + p[1]! - 1) < 1e-5);
  return p[1]!;
}

test('builders are deterministic and write files only when they change', async () => {
  assert.deepEqual(buildDefectModel(), buildDefectModel());
  assert.deepEqual(buildTabularModel(), buildTabularModel());
  const dir = await mkdtemp(join(tmpdir(), 'models-'));
  try {
    const path = await writeDefectModel(dir);
    assert.equal(path, join(dir, 'defect-detector.onnx'));
    const first = await stat(path);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await writeDefectModel(dir), path);
    assert.equal((await stat(path)).mtimeMs, first.mtimeMs);
    assert.ok((await stat(await writeTabularModel(dir))).size > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the defect model loads with the names and shapes the agent config expects', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'models-'));
  try {
    const session = await ort.InferenceSession.create(await writeDefectModel(dir));
    assert.deepEqual(session.inputNames, [DEFECT_MODEL.input]);
    assert.deepEqual(session.outputNames, [DEFECT_MODEL.output]);
    await session.release();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the defect model tells scratched and spotted parts from good ones', async (t) => {
  const session = await ort.InferenceSession.create(buildDefectModel());
  const confusion = { ok: { ok: 0, defect: 0 }, defect: { ok: 0, defect: 0 } };
  const n = 200;
  for (let i = 0; i < n; i++) {
    const part = renderPart(i, { width: 640, height: 480, defectRate: 0.5, seed: 2024 });
    const truth = part.defects.length > 0 ? 'defect' : 'ok';
    const said = (await defectProbability(session, part)) > 0.5 ? 'defect' : 'ok';
    confusion[truth][said]++;
  }
  const accuracy = (confusion.ok.ok + confusion.defect.defect) / n;
  t.diagnostic(`accuracy ${accuracy} confusion (truth → said) ${JSON.stringify(confusion)}`);
  assert.ok(accuracy >= 0.95, `accuracy ${accuracy}`);
  assert.ok(confusion.ok.ok / (confusion.ok.ok + confusion.ok.defect) >= 0.9, 'good parts rejected');
  assert.ok(confusion.defect.defect / (confusion.defect.ok + confusion.defect.defect) >= 0.9, 'defects missed');
  await session.release();
});

test('the defect model answers to the defect itself, not to the part around it', async () => {
  const session = await ort.InferenceSession.create(buildDefectModel());
  let flipped = 0;
  const n = 20;
  for (let i = 0; i < n; i++) {
    // Same index, same part and lighting: with defectRate 1 it carries a defect, with 0 it does not.
    const opts = { width: 640, height: 480, seed: 99 };
    const bad = await defectProbability(session, renderPart(i, { ...opts, defectRate: 1 }));
    const good = await defectProbability(session, renderPart(i, { ...opts, defectRate: 0 }));
    if (bad > 0.5 && good < 0.5) flipped++;
  }
  assert.ok(flipped >= 18, `only ${flipped} of ${n} defect/clean twins told apart`);
  await session.release();
});

test('the vibration model matches its reference arithmetic', async () => {
  const session = await ort.InferenceSession.create(buildTabularModel());
  assert.deepEqual(session.inputNames, [TABULAR_MODEL.input]);
  assert.deepEqual(session.outputNames, [TABULAR_MODEL.output]);
  const rows = [
    [2.0, 6.0, 45, 12],
    [1.0, 3.0, 30, 10],
    [7.5, 24, 78, 16],
    [3.1, 14, 50, 12.5],
    [0, 0, 0, 0],
    [4.2, 9.5, 61, 13.8],
  ];
  const out = await session.run({ [TABULAR_MODEL.input]: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  const p = out[TABULAR_MODEL.output]!;
  assert.deepEqual(p.dims, [rows.length, 2]);
  const data = p.data as Float32Array;
  rows.forEach((row, r) => {
    const ref = vibrationReference(row);
    for (let k = 0; k < 2; k++) assert.ok(Math.abs(data[r * 2 + k]! - ref[k]!) < 1e-5, `row ${r} class ${k}: ${data[r * 2 + k]} vs ${ref[k]}`);
  });
  await session.release();
});

test('the vibration model calls a hot, shaking bearing worn and a quiet one normal', async () => {
  const session = await ort.InferenceSession.create(buildTabularModel());
  const classify = async (row: number[]) => {
    const out = await session.run({ [TABULAR_MODEL.input]: new ort.Tensor('float32', Float32Array.from(row), [1, 4]) });
    const [normal, worn] = out[TABULAR_MODEL.output]!.data as Float32Array;
    return TABULAR_MODEL.labels[worn! > normal! ? 1 : 0];
  };
  assert.equal(await classify([1.8, 5.5, 42, 11.5]), 'normal');
  assert.equal(await classify([1.0, 3.0, 30, 10]), 'normal');
  assert.equal(await classify([7.5, 24, 78, 16]), 'worn');
  // Heat alone, with the vibration still low, is already suspicious.
  assert.equal(await classify([2.0, 6.0, 80, 15]), 'worn');
  await session.release();
});
