import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeModel } from '../../agent/demo/onnx-builder.js';
import { backgroundRows } from '../../agent/explain/background.js';
import { RowModel } from '../../agent/explain/row-model.js';
import { shapleyValues, type ShapleyOptions } from '../../agent/explain/shapley.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';

const DATA = join(process.cwd(), '..', 'shared', 'data', 'models');
/** Σφ must equal prediction − base value within this, relative to the larger of 1 and |prediction|. */
const ADDITIVITY = 1e-6;

/** A linear regressor y = w·x + b as a real ONNX model with a free batch dimension. */
function linearModel(w: number[], b: number): Uint8Array {
  return encodeModel({
    name: 'linear',
    inputs: [{ name: 'x', shape: ['batch', w.length] }],
    outputs: [{ name: 'y', shape: ['batch', 1] }],
    initializers: [
      { name: 'w', dims: [w.length, 1], data: w },
      { name: 'b', dims: [1], data: [b] },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w'], outputs: ['xw'] },
      { op: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
    ],
  });
}

function rows(n: number, m: number, random: () => number, scale = 4): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: m }, () => (random() - 0.5) * scale));
}

function settings(background: number[][], extra: Partial<ShapleyOptions> = {}): ShapleyOptions {
  return { background, exactUpTo: 10, samples: 2048, batchRows: 4096, random: mulberry32(7), ...extra };
}

function assertAdditive(values: number[], base: number, prediction: number, what: string): void {
  const sum = values.reduce((a, b) => a + b, 0);
  const gap = Math.abs(sum - (prediction - base));
  assert.ok(gap <= ADDITIVITY * Math.max(1, Math.abs(prediction)), `${what}: Σφ ${sum} vs prediction − base ${prediction - base} (gap ${gap})`);
}

for (const m of [6, 14]) {
  test(`a linear ONNX regressor with ${m} features: φ_i = w_i·(x_i − E[x_i]) (${m <= 10 ? 'exact' : 'KernelSHAP'}) and additivity`, async (t) => {
    const random = mulberry32(m);
    const w = Array.from({ length: m }, () => (random() - 0.5) * 6);
    const model = await RowModel.open(linearModel(w, 0.75));
    t.after(() => model.release());
    const background = rows(25, m, random);
    const x = rows(1, m, random)[0]!;
    const r = await shapleyValues(x, model.column(0), settings(background));
    assert.equal(r.exact, m <= 10);
    assert.equal(model.batched, true, 'the coalitions went through the session in batches');
    const mean = (i: number) => background.reduce((a, row) => a + row[i]!, 0) / background.length;
    // float32 arithmetic inside the model: a few ulps of values up to ~10.
    const tolerance = 1e-4;
    w.forEach((wi, i) => assert.ok(Math.abs(r.values[i]! - wi * (x[i]! - mean(i))) < tolerance, `feature ${i}: φ ${r.values[i]} vs closed form ${wi * (x[i]! - mean(i))}`));
    assertAdditive(r.values, r.baseValue, r.prediction, 'linear');
    t.diagnostic(`${r.coalitions} coalitions × ${background.length} background rows`);
  });
}

test('a real MLP (winml iris Network): exact Shapley values are additive and KernelSHAP agrees with them', async (t) => {
  const path = join(DATA, 'winml_iris_Network.onnx');
  if (!existsSync(path)) return t.skip(`skipped: ${DATA} is absent (the real third-party models)`);
  const model = await RowModel.open(readFileSync(path));
  t.after(() => model.release());
  const random = mulberry32(3);
  const background = Array.from({ length: 30 }, () => [4.5 + 3 * random(), 2 + 2.4 * random(), 1 + 5.9 * random(), 0.1 + 2.4 * random()]);
  const x = [6.7, 3.0, 5.2, 2.3];
  const [scores] = await model.scores([Float32Array.from(x)]);
  let cls = 0;
  for (let i = 1; i < scores!.length; i++) if (scores![i]! > scores![cls]!) cls = i;
  const exact = await shapleyValues(x, model.column(cls), settings(background));
  assert.equal(exact.exact, true);
  assertAdditive(exact.values, exact.baseValue, exact.prediction, 'iris MLP exact');
  assert.ok(Math.abs(exact.prediction - scores![cls]!) < 1e-5, 'the coalition of all features is the prediction itself');
  const sampled = await shapleyValues(x, model.column(cls), settings(background, { exactUpTo: 1, samples: 64 }));
  assert.equal(sampled.exact, false);
  assertAdditive(sampled.values, sampled.baseValue, sampled.prediction, 'iris MLP KernelSHAP');
  // With 4 features the 64 samples cover every coalition size, so the fit is close to exact.
  exact.values.forEach((v, i) => assert.ok(Math.abs(v - sampled.values[i]!) < 0.02 * Math.max(1, Math.abs(exact.prediction - exact.baseValue)), `feature ${i}: exact ${v}, sampled ${sampled.values[i]}`));
  t.diagnostic(`class ${cls}: φ ${exact.values.map((v) => v.toFixed(4)).join(', ')}; base ${exact.baseValue.toFixed(4)} → ${exact.prediction.toFixed(4)}`);
});

for (const file of ['skl_logreg_iris.onnx', 'skl_rf_iris.onnx']) {
  test(`scikit-learn ${file} through onnxruntime (its probability map read as a tensor): additive Shapley values`, async (t) => {
    const path = join(DATA, file);
    if (!existsSync(path)) return t.skip(`skipped: ${DATA} is absent (the real third-party models)`);
    const model = await RowModel.open(readFileSync(path));
    t.after(() => model.release());
    assert.ok(model.classLabels && model.classLabels.length === 3, 'three iris classes in the map');
    const random = mulberry32(11);
    // skl_logreg_iris was trained on the two sepal measures only.
    const width = model.width ?? 4;
    const background = Array.from({ length: 20 }, () => [4.5 + 3 * random(), 2 + 2.4 * random(), 1 + 5.9 * random(), 0.1 + 2.4 * random()].slice(0, width));
    const x = [5.1, 3.5, 1.4, 0.2].slice(0, width);
    const [p] = await model.scores([Float32Array.from(x)]);
    const setosa = 0;
    assert.ok(p![setosa]! > 0.5, `a typical setosa is setosa (${p![setosa]})`);
    const r = await shapleyValues(x, model.column(setosa), settings(background));
    assertAdditive(r.values, r.baseValue, r.prediction, file);
    if (width === 4) {
      // Petal length and width separate setosa from the rest: together they carry most of the lift.
      const petals = Math.abs(r.values[2]!) + Math.abs(r.values[3]!);
      const total = r.values.reduce((a, v) => a + Math.abs(v), 0);
      assert.ok(petals / total > 0.5, `petals carry ${(petals / total).toFixed(2)} of the attribution`);
    }
    t.diagnostic(`batched ${model.batched}; φ ${r.values.map((v) => v.toFixed(4)).join(', ')}; base ${r.baseValue.toFixed(4)} → ${r.prediction.toFixed(4)}`);
  });
}

test('background rows come from the reference profile when it has them, else from the config, and must fit the model', () => {
  const profile = { background: [[1, 2], [3, 4]] };
  assert.deepEqual(backgroundRows(profile, [[9, 9]], 2), { rows: [[1, 2], [3, 4]], source: 'reference-profile' });
  assert.deepEqual(backgroundRows({ features: {} }, [[9, 9]], 2), { rows: [[9, 9]], source: 'config' });
  assert.deepEqual(backgroundRows(null, [[9, 9]], 2), { rows: [[9, 9]], source: 'config' });
  assert.equal(backgroundRows(undefined, undefined, 2), undefined);
  assert.throws(() => backgroundRows({ background: [[1, 2, 3]] }, undefined, 2), /has 3 values; the model takes 2/);
  // A profile whose background is not rows of numbers is not used.
  assert.deepEqual(backgroundRows({ background: [['a']] }, [[9, 9]], 2), { rows: [[9, 9]], source: 'config' });
});
