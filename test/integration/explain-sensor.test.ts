import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { TABULAR_MODEL, vibrationReference, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { ShapleyValues } from '../../protocol/explanations.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const FEATURES = [
  { tag: 'Vibration', fn: 'mean' },
  { tag: 'Vibration', fn: 'max' },
  { tag: 'Temperature', fn: 'mean' },
  { tag: 'MotorCurrent', fn: 'mean' },
];

test('sensor predictions from the OPC-UA plant get exact Shapley values in the agent, stored beside them and additive', { timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'explain-sensor-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), partCycleMs: 0 });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const random = mulberry32(5);
  // A healthy unit's spread of readings: the reference the attributions are measured against.
  const background = Array.from({ length: 24 }, () => [2 + random() - 0.5, 6 + 2 * (random() - 0.5), 45 + 6 * (random() - 0.5), 12 + 2 * (random() - 0.5)]);
  const s = await startSensorAgent(host, {
    dir,
    config: {
      opcua: {
        pkiDir: 'pki',
        servers: [{ id: 'plant', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', tags: plantTags(['Vibration', 'Temperature', 'MotorCurrent']), reconnect: { minMs: 200, maxMs: 1000 } }],
      },
      sensorModels: [
        {
          name: 'bearing',
          path: modelPath,
          labels: [...TABULAR_MODEL.labels],
          features: FEATURES,
          window: { sizeMs: 1000, everyMs: 500, graceMs: 150, staleMs: 3000 },
          explain: { sampleRate: 1, background, cpuShare: 1000 },
        },
      ],
    },
  });
  const db = s.agent.store.database;
  const explained = () => db.prepare<[], { seq: number; method: string; body: string }>("SELECT seq, method, body FROM explanations WHERE model = 'bearing' ORDER BY seq").all();
  await waitFor('3 explained sensor predictions', () => explained().length >= 3, 30_000);
  const predictions = new Map(s.predictions('bearing').map((p) => [p.seq, p]));
  for (const row of explained()) {
    assert.equal(row.method, 'shapley');
    const v = ShapleyValues.parse(JSON.parse(row.body));
    const p = predictions.get(row.seq)!;
    assert.deepEqual(v.features, ['Vibration.mean', 'Vibration.max', 'Temperature.mean', 'MotorCurrent.mean']);
    assert.equal(v.exact, true);
    assert.equal(v.coalitions, 16);
    assert.equal(v.backgroundRows, 24);
    assert.equal(v.output, p.label, 'the predicted class is explained');
    // The explained output is the committed score, recomputed from the same row.
    const f = p.features!;
    const reference = vibrationReference([f['Vibration.mean']!, f['Vibration.max']!, f['Temperature.mean']!, f['MotorCurrent.mean']!]);
    assert.ok(Math.abs(v.prediction - Math.max(...reference)) < 1e-4, `prediction ${v.prediction} vs reference ${Math.max(...reference)}`);
    const sum = v.values.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - (v.prediction - v.baseValue)) < 1e-6, `additivity: Σφ ${sum} vs ${v.prediction - v.baseValue}`);
  }
  const stats = s.agent.explainer.stats;
  assert.ok(stats.explained >= 3 && stats.failed === 0, JSON.stringify(stats));
});
