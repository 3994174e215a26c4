import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Tensor } from 'onnxruntime-node';
import { ModelSchema } from '../../agent/config/schema.js';
import type { ModelConfig } from '../../agent/config/schema.js';
import { AgentError } from '../../agent/errors.js';
import { Classifier } from '../../agent/inference/classifier.js';
import { loadLabels } from '../../agent/inference/labels.js';
import { ModelSession } from '../../agent/inference/model-session.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';

/** Real third-party models live next to the repo, never in it; a fresh clone has none. */
const DATA = fileURLToPath(new URL('../../../shared/data/', import.meta.url));
const MODELS = `${DATA}models`;
const skip = existsSync(`${MODELS}/winml_SqueezeNet_fp16.onnx`) ? false : `${DATA} absent: real-model tests need ../shared/data`;

/** SqueezeNet per ../shared/data/README.md: 224×224 BGR 0–255 as float16 NCHW, softmax already in the graph. */
function squeezenet(over: Record<string, unknown> = {}): ModelConfig {
  return ModelSchema.parse({
    name: 'squeezenet',
    path: 'winml_SqueezeNet_fp16.onnx',
    labelsFile: 'imagenet_labels_winml.txt',
    preprocess: { width: 224, height: 224, channels: 'BGR', layout: 'NCHW', scale: 1, mean: [0], std: [1], dtype: 'float16' },
    output: { topK: 5 },
    ...over,
  });
}

async function loadError(config: ModelConfig): Promise<AgentError> {
  const err = await ModelSession.load(config, { baseDir: MODELS }).then(
    (m) => {
      void m.release();
      return assert.fail(`model "${config.name}" loaded`);
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError, String(err));
  return err;
}

test('SqueezeNet fp16 calls the goldfish photo a goldfish', { skip }, async () => {
  const config = squeezenet();
  const model = await ModelSession.load(config, { baseDir: MODELS });
  try {
    assert.equal(model.inputName, 'data_0');
    assert.equal(model.outputName, 'softmaxout_1');
    assert.equal(model.outputType, 'float16');
    const labels = await loadLabels(config, MODELS);
    assert.equal(labels?.length, 1000);
    const pre = new ImagePreprocessor(config.preprocess);
    const { tensor, width, height } = await pre.toTensor(await readFile(`${DATA}images/photos/ortex_goldfish.jpg`));
    assert.ok(width > 0 && height > 0);
    const scores = await model.run(tensor);
    assert.ok(scores instanceof Float32Array);
    assert.equal(scores.length, 1000);
    const result = new Classifier(config.output, labels).decode(scores);
    assert.equal(result.softmaxApplied, false, 'the model ends in softmax; auto must not apply it twice');
    assert.match(result.label, /goldfish/);
    assert.ok(result.score > 0.9, `goldfish score ${result.score}`);
    assert.equal(result.topK.length, 5);
  } finally {
    await model.release();
  }
});

test('pcb-aoi.onnx is refused with E_MODEL_LOAD naming the model and the reason', { skip }, async () => {
  const err = await loadError(squeezenet({ name: 'pcb-aoi', path: 'pcb-aoi.onnx', labelsFile: undefined }));
  assert.equal(err.code, 'E_MODEL_LOAD');
  assert.equal(err.retryable, false);
  assert.match(err.message, /^model "pcb-aoi" \(.*pcb-aoi\.onnx\) could not be loaded: /);
  assert.match(err.message, /LegacyPadding/);
  assert.doesNotMatch(err.message, /Load model from/, 'the path is said once');
});

test('a missing model file says so', { skip }, async () => {
  const err = await loadError(squeezenet({ name: 'line3-cam2', path: 'no-such-model.onnx' }));
  assert.equal(err.code, 'E_MODEL_LOAD');
  assert.match(err.message, /^model "line3-cam2" \(.*no-such-model\.onnx\) could not be loaded: file not found$/);
  const dir = await loadError(squeezenet({ path: '.' }));
  assert.match(dir.message, /not a file$/);
});

test('a preprocess config the model cannot take is refused at load, not per frame', { skip }, async () => {
  const dtype = await loadError(squeezenet({ preprocess: { width: 224, height: 224, dtype: 'float32' } }));
  assert.equal(dtype.code, 'E_MODEL_LOAD');
  assert.match(dtype.message, /input "data_0" takes float16 \[1,3,224,224\], preprocess gives float32 \[1,3,224,224\]/);
  const size = await loadError(squeezenet({ preprocess: { width: 320, height: 240, dtype: 'float16' } }));
  assert.match(size.message, /preprocess gives float16 \[1,3,240,320\]/);
  const output = await loadError(squeezenet({ output: { tensor: 'logits' } }));
  assert.match(output.message, /no output "logits"; outputs: softmaxout_1/);
});

test('a missing labels file is E_MODEL_LABELS naming the model and the path', { skip }, async () => {
  const err = await loadLabels(squeezenet({ name: 'sorter', labelsFile: 'sorter-labels.txt' }), MODELS).then(
    () => assert.fail('labels loaded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError);
  assert.equal(err.code, 'E_MODEL_LABELS');
  assert.match(err.message, /model "sorter" \(.*\/shared\/data\/models\/sorter-labels\.txt\).*file not found/);
  assert.deepEqual(await loadLabels(squeezenet({ labelsFile: undefined, labels: ['a', 'b'] }), MODELS), ['a', 'b']);
  assert.equal(await loadLabels(squeezenet({ labelsFile: undefined }), MODELS), undefined);
});

test('scikit-learn model: only the tensor output is fetched, its non-tensor output is refused by name', { skip }, async () => {
  // Its preprocess is never used; float32 matches the model's [N,4] input, which is not an image.
  const rf = squeezenet({ name: 'iris-rf', path: 'skl_rf_iris.onnx', labelsFile: undefined, preprocess: { width: 2, height: 2 } });
  const model = await ModelSession.load(rf, { baseDir: MODELS });
  try {
    assert.equal(model.outputName, 'output_label');
    const setosa = new Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]);
    assert.deepEqual([...(await model.run(setosa))], [0]);
  } finally {
    await model.release();
  }
  const maps = await loadError({ ...rf, output: { ...rf.output, tensor: 'output_probability' } });
  assert.match(maps.message, /output "output_probability" is not a tensor/);
});

test('release waits for a run in flight; runs after release are refused', { skip }, async () => {
  const config = squeezenet();
  const model = await ModelSession.load(config, { baseDir: MODELS });
  const input = new Tensor('float16', new Uint16Array(3 * 224 * 224), [1, 3, 224, 224]);
  const running = model.run(input);
  const released = model.release();
  assert.equal((await running).length, 1000);
  await released;
  await assert.rejects(model.run(input), (e: unknown) => e instanceof AgentError && e.code === 'E_MODEL_RELEASED');
  await model.release(); // twice is fine
});

test('a wrong input tensor is E_INFERENCE naming the model', { skip }, async () => {
  const model = await ModelSession.load(squeezenet(), { baseDir: MODELS });
  try {
    const wrong = new Tensor('float32', new Float32Array(3 * 224 * 224), [1, 3, 224, 224]);
    await assert.rejects(model.run(wrong), (e: unknown) => e instanceof AgentError && e.code === 'E_INFERENCE' && /"squeezenet"/.test(e.message));
  } finally {
    await model.release();
  }
});
