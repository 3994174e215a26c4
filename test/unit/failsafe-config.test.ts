import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigSchema } from '../../agent/config/schema.js';
import { formatIssues } from '../../protocol/parse.js';

/*
 * A fail-safe chain that could never work is refused before anything starts, naming where:
 * image rules read image statistics, sensor rules read features, and a rule needs a bound.
 */

const base = {
  deviceId: 'gw',
  sources: [{ id: 'cam', type: 'synthetic' }],
  broker: { url: 'mqtt://127.0.0.1:1883' },
};
const model = { name: 'defect', path: 'm.onnx', preprocess: { width: 64, height: 64 } };
const sensor = { name: 'bearing', path: 'b.onnx', features: [{ tag: 'Vibration', fn: 'mean' }] };

test('fail-safe rules are checked with the config, each problem named by its path', () => {
  const r = ConfigSchema.safeParse({
    ...base,
    opcua: { servers: [{ id: 'plc', endpoint: 'opc.tcp://127.0.0.1:4840', tags: [{ name: 'Vibration', nodeId: 'ns=1;s=V' }] }] },
    models: [{ ...model, failsafe: { rules: [{ feature: 'Vibration.mean', above: 1, label: 'x' }, { stat: 'brightness', label: 'dark' }, { stat: 'loudness', below: 1, label: 'y' }] } }],
    sensorModels: [{ ...sensor, failsafe: { minConfidence: 2, rules: [{ stat: 'brightness', below: 0.1, label: 'z' }] } }],
  });
  assert.equal(r.success, false);
  const text = formatIssues(r.error!.issues);
  assert.match(text, /models\.0\.failsafe\.rules\.0: unknown key "feature"/);
  assert.match(text, /models\.0\.failsafe\.rules\.1: give below, above or both/);
  assert.match(text, /models\.0\.failsafe\.rules\.2\.stat: /);
  assert.match(text, /sensorModels\.0\.failsafe\.minConfidence: /);
  assert.match(text, /sensorModels\.0\.failsafe\.rules\.0: unknown key "stat"/);
});

test('defaults: no chain unless configured; feedback and segment audits on with their defaults', () => {
  const c = ConfigSchema.parse({ ...base, models: [model] });
  assert.equal(c.models[0]!.failsafe, undefined);
  assert.deepEqual(c.models[0]!.feedback, { window: 200, minLabels: 30, every: 10, limits: { warn: 0.05, alarm: 0.1 }, recoverWindows: 2, keepInputs: 32 });
  assert.deepEqual(c.segments.keys, [{ name: 'camera', from: 'source' }]);
  const f = ConfigSchema.parse({ ...base, models: [{ ...model, failsafe: { fallback: { path: 'old.onnx' } } }] }).models[0]!.failsafe!;
  assert.deepEqual([f.minConfidence, f.manual.label, f.degradedShare, f.windowS, f.fallback?.version], [0, 'needs_inspection', 0.2, 300, 'fallback']);
  assert.equal(ConfigSchema.safeParse({ ...base, models: [model], segments: { keys: [{ name: 'product', from: 'tag' }] } }).success, false, 'a tag key names its tag');
});
