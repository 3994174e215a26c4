import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffManifests } from '../../central/models/diff.js';
import { diffText } from '../../central/models/models-text.js';
import { ModelManifest, type ModelManifestInput } from '../../protocol/manifest.js';

const LINEAGE = {
  training: { datasets: [{ name: 'train.tar', sha256: 'b2'.repeat(32) }] },
  code: { commit: 'abcdef1' },
  hyperparameters: { lr: 0.01 },
  validation: { dataset: { name: 'val.tar', sha256: 'c3'.repeat(32) }, metrics: { accuracy: 0.97 } },
  packedBy: 'alice@ws1',
  packedAt: '2025-03-01T08:00:00.000Z',
};

function manifest(over: Partial<ModelManifestInput> = {}): ModelManifest {
  return ModelManifest.parse({
    v: 1,
    name: 'defect',
    version: '1.4.0',
    counter: 7,
    createdAt: '2025-03-01T08:00:00.000Z',
    expiresAt: '2025-06-01T08:00:00.000Z',
    task: 'classification',
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 1, 120, 160] }],
    outputs: [{ name: 'probabilities', dtype: 'float32', shape: ['batch', 2] }],
    preprocess: { width: 160, height: 120, channels: 'GRAY' },
    output: { tensor: 'probabilities', topK: 2 },
    labels: ['ok', 'defect'],
    artifacts: [{ role: 'model', path: 'model.onnx', sha256: 'a1'.repeat(32), bytes: 13122, urls: ['https://models.example/defect/1.4.0/model.onnx'] }],
    goldens: [{ input: { kind: 'tensor', dims: [1, 3], data: [0.1, 0.2, 0.3] }, expected: [1], tolerance: 1e-2 }],
    minAgentVersion: '0.2.0',
    arch: ['x64', 'arm64'],
    lineage: LINEAGE,
    ...over,
  });
}

test('the same manifest has no change in any section', () => {
  const d = diffManifests(manifest(), manifest());
  assert.deepEqual(d.changes, []);
  assert.equal(d.unchanged.length, 11);
});

test('each kind of change lands in its section, and nothing else is reported', () => {
  const b = manifest({
    version: '1.5.0',
    counter: 8,
    labels: ['ok', 'scratch'],
    output: { tensor: 'probabilities', topK: 1 },
    budgets: { latencyP99Ms: 40 },
    artifacts: [{ role: 'model', path: 'model.onnx', sha256: 'd4'.repeat(32), bytes: 14000, urls: ['https://models.example/defect/1.5.0/model.onnx'] }],
    goldens: [{ input: { kind: 'tensor', dims: [1, 3], data: [0.1, 0.2, 0.3] }, expected: [1], tolerance: 1e-3 }],
    lineage: { ...LINEAGE, code: { commit: '1234abc' }, validation: { ...LINEAGE.validation, metrics: { accuracy: 0.95, f1: 0.9 } } },
  });
  const d = diffManifests(manifest(), b);
  const by = (section: string) => d.changes.filter((c) => c.section === section).map((c) => [c.path, c.before, c.after]);
  assert.deepEqual(by('identity'), [['version', '1.4.0', '1.5.0'], ['counter', 7, 8]]);
  assert.deepEqual(by('labels'), [['labels', ['ok', 'defect'], ['ok', 'scratch']]]);
  assert.deepEqual(by('thresholds'), [['output.topK', 2, 1], ['budgets.latencyP99Ms', undefined, 40]]);
  assert.deepEqual(by('artifacts'), [['artifacts.model.onnx.sha256', 'a1'.repeat(32), 'd4'.repeat(32)], ['artifacts.model.onnx.bytes', 13122, 14000]], 'URLs are where, not what: not a change');
  assert.deepEqual(by('goldens'), [['goldens.tolerance', [0.01], [0.001]]]);
  assert.deepEqual(by('lineage'), [['lineage.code.commit', 'abcdef1', '1234abc']]);
  assert.deepEqual(by('metrics'), [['metrics.accuracy', 0.97, 0.95], ['metrics.f1', undefined, 0.9]]);
  assert.deepEqual(d.unchanged, ['interface', 'preprocessing', 'reference profile', 'other']);

  const text = diffText(d);
  assert.match(text, /^labels:\n {2}labels: \["ok","defect"\] → \["ok","scratch"\]$/m);
  assert.match(text, /^ {2}budgets\.latencyP99Ms: added 40$/m);
  assert.match(text, /^ {2}metrics\.accuracy: 0\.97 → 0\.95 \(-0\.02\)$/m);
  assert.match(text, /^unchanged: interface, preprocessing, reference profile, other$/m);
});

test('a long label list is compared entry by entry; lineage missing on one side is shown field by field', () => {
  const many = Array.from({ length: 40 }, (_, i) => `class-${i}`);
  const renamed = many.map((l, i) => (i === 17 ? 'scuff' : l));
  const a = manifest({ labels: many });
  delete (a as { lineage?: unknown }).lineage;
  const d = diffManifests(a, manifest({ labels: renamed }));
  assert.deepEqual(d.changes.filter((c) => c.section === 'labels'), [{ section: 'labels', path: 'labels[17]', before: 'class-17', after: 'scuff' }]);
  const lineage = d.changes.filter((c) => c.section === 'lineage').map((c) => c.path);
  assert.ok(lineage.includes('lineage.code.commit') && lineage.includes('lineage.packedBy'), lineage.join(', '));
  assert.ok(d.changes.some((c) => c.section === 'metrics' && c.path === 'metrics.accuracy' && c.before === undefined && c.after === 0.97));
});
