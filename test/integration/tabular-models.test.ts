import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { TabularModelSchema, type TabularModelConfig } from '../../agent/config/sensor-schema.js';
import { buildTabularModel, vibrationReference, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { AgentError } from '../../agent/errors.js';
import { TabularModel } from '../../agent/inference/tabular-model.js';
import { exposeZipMapInput } from '../../agent/inference/zipmap.js';
import { tempDir } from '../helpers/tmp.js';

const MODELS = fileURLToPath(new URL('../../../shared/data/models', import.meta.url));
const skip = existsSync(`${MODELS}/skl_rf_iris.onnx`) ? false : `${MODELS} absent: real-model tests need ../shared/data`;

function config(file: string, width: number, extra: Record<string, unknown> = {}): TabularModelConfig {
  return TabularModelSchema.parse({ name: file.replace('.onnx', ''), path: `${MODELS}/${file}`, features: Array.from({ length: width }, (_, i) => ({ tag: `t${i}` })), ...extra });
}

const rows = {
  setosa: [5.1, 3.5, 1.4, 0.2],
  versicolor: [5.9, 2.8, 4.4, 1.3],
  virginica: [7.2, 3.2, 6.0, 1.8],
};

test('scikit-learn random forest: labels and the probabilities behind its ZipMap', { skip }, async (t) => {
  const m = await TabularModel.load(config('skl_rf_iris.onnx', 4, { labels: ['setosa', 'versicolor', 'virginica'] }), '.');
  t.after(() => m.release());
  for (const [name, row] of Object.entries(rows)) {
    const r = await m.predict(Float32Array.from(row));
    assert.equal(r.label, name, `${name}: ${JSON.stringify(r)}`);
    const sum = r.topK.reduce((s, k) => s + k.score, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
    assert.equal(r.topK[0]!.label, r.label, 'the model label is the most probable class');
    assert.equal(r.score, r.topK[0]!.score);
  }
});

test('ZipMap input exposed as an output gives the same probabilities onnxruntime computes inside the graph', { skip }, async () => {
  const bytes = readFileSync(`${MODELS}/skl_logreg_iris.onnx`);
  const exposed = exposeZipMapInput(bytes, 'output_probability');
  assert.ok(exposed, 'a ZipMap feeds output_probability');
  assert.deepEqual(exposed.classLabels, ['0', '1', '2']);
  const s = await InferenceSession.create(exposed.bytes);
  const out = await s.run({ X: new Tensor('float32', Float32Array.from([5.1, 3.5, 6.7, 3.0]), [2, 2]) }, ['output_label', exposed.tensor]);
  const probs = Array.from(out[exposed.tensor]!.data as Float32Array);
  const labels = Array.from(out.output_label!.data as BigInt64Array, Number);
  assert.equal(probs.length, 6);
  for (let row = 0; row < 2; row++) {
    const p = probs.slice(row * 3, row * 3 + 3);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    assert.equal(p.indexOf(Math.max(...p)), labels[row], 'the label is the arg-max of the exposed probabilities');
  }
  await s.release();
  // The original file is untouched and still refuses to return its map output, which is why this exists.
  const original = await InferenceSession.create(bytes);
  await assert.rejects(original.run({ X: new Tensor('float32', Float32Array.from([5.1, 3.5]), [1, 2]) }), /Non tensor/);
  await original.release();
});

test('logistic regression and a LightGBM pipeline over two features answer with class ids and probabilities', { skip }, async (t) => {
  for (const file of ['skl_logreg_iris.onnx', 'skl_pipeline_lightgbm.onnx']) {
    const m = await TabularModel.load(config(file, 2), '.');
    t.after(() => m.release());
    const r = await m.predict(Float32Array.from([5.1, 3.5]));
    assert.match(r.label, /^[012]$/, file);
    assert.equal(r.topK.length, 3);
    assert.ok(r.score > 0 && r.score <= 1, `${file} score ${r.score}`);
    assert.ok(Math.abs(r.topK.reduce((s, k) => s + k.score, 0) - 1) < 1e-4);
  }
});

test('anomaly detectors: label -1 is an anomaly, the score is the decision function', { skip }, async (t) => {
  const ocsvm = await TabularModel.load(config('skl_sk_OCSVM.onnx', 3, { output: { kind: 'anomaly' } }), '.');
  const lof = await TabularModel.load(config('skl_local_outlier_factor.onnx', 2, { output: { kind: 'anomaly' } }), '.');
  t.after(() => Promise.all([ocsvm.release(), lof.release()]));
  const far = await ocsvm.predict(Float32Array.from([100, 100, 100]));
  assert.equal(far.anomaly, true);
  assert.equal(far.label, 'anomaly');
  assert.ok(far.anomalyScore! < 0, `score ${far.anomalyScore}`);
  const rowsSeen = await Promise.all([[5.9, 3.0, 4.2], [6.7, 3.0, 5.2], [5.1, 3.5, 1.4]].map((r) => ocsvm.predict(Float32Array.from(r))));
  for (const r of rowsSeen) assert.equal(r.anomaly, r.anomalyScore! < 0, 'the label agrees with the sign of the score');
  assert.ok(rowsSeen.some((r) => r.anomaly === false), 'some training-like row is normal');
  const l = await lof.predict(Float32Array.from([1000, -1000]));
  assert.equal(l.anomaly, true);
  assert.equal(typeof l.anomalyScore, 'number');
});

test('a plain tensor network (winml iris) is decoded with softmax over its logits', { skip }, async (t) => {
  const m = await TabularModel.load(config('winml_iris_Network.onnx', 4, { labels: ['setosa', 'versicolor', 'virginica'] }), '.');
  t.after(() => m.release());
  const r = await m.predict(Float32Array.from(rows.setosa));
  assert.equal(r.label, 'setosa');
  assert.ok(Math.abs(r.topK.reduce((s, k) => s + k.score, 0) - 1) < 1e-6);
});

test('a regressor reports its value; the generated classifier matches its plain-arithmetic reference', async (t) => {
  const dir = await tempDir(t);
  const path = await writeTabularModel(dir);
  const cls = await TabularModel.load(TabularModelSchema.parse({ name: 'v', path, labels: ['normal', 'worn'], features: [{ tag: 'a' }, { tag: 'b' }, { tag: 'c' }, { tag: 'd' }] }), dir);
  const reg = await TabularModel.load(TabularModelSchema.parse({ name: 'r', path, features: [{ tag: 'a' }, { tag: 'b' }, { tag: 'c' }, { tag: 'd' }], output: { kind: 'regressor' } }), dir);
  t.after(() => Promise.all([cls.release(), reg.release()]));
  for (const row of [[2, 6, 45, 12], [7, 20, 70, 16]]) {
    const [normal, worn] = vibrationReference(row);
    const r = await cls.predict(Float32Array.from(row));
    assert.equal(r.label, worn > normal ? 'worn' : 'normal');
    assert.ok(Math.abs(r.score - Math.max(normal, worn)) < 1e-5);
    const v = await reg.predict(Float32Array.from(row));
    assert.ok(Math.abs(v.value! - normal) < 1e-5, 'a regressor reads the first value of its output');
  }
  assert.ok(buildTabularModel().length > 0);
});

test('a model whose input width differs from the features listed is refused at load, naming both', { skip }, async () => {
  await assert.rejects(TabularModel.load(config('skl_rf_iris.onnx', 3), '.'), (err: unknown) => {
    assert.ok(err instanceof AgentError);
    assert.equal(err.code, 'E_MODEL_LOAD');
    assert.match(err.message, /skl_rf_iris.*takes 4 features, the config lists 3/);
    return true;
  });
  await assert.rejects(TabularModel.load(config('skl_rf_iris.onnx', 4, { output: { scores: 'nope' } }), '.'), /no scores output "nope"; outputs: output_label, output_probability/);
});
