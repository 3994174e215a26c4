import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { PLANT_NODES } from '../../agent/demo/plant-server.js';
import { TABULAR_MODEL, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The fail-safe chain of sensor models on a real OPC-UA plant: the bearing classifier is
 * never as sure as these configs demand, so a rule on the window's features answers for
 * one model; for the other no rule holds, its windows are marked for manual inspection and
 * the line is told so on the PLC's reject-gate node, once, not once per window.
 */

const FEATURES = [
  { tag: 'Vibration', fn: 'mean' },
  { tag: 'Vibration', fn: 'max' },
  { tag: 'Temperature', fn: 'mean' },
  { tag: 'MotorCurrent', fn: 'mean' },
];

test('sensor models fall back to rules on features, then to manual inspection signalled on the PLC', { timeout: 120_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'failsafe-sensor-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), partCycleMs: 0 });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const window = { sizeMs: 1000, everyMs: 500, graceMs: 150, staleMs: 3000 };
  const bearing = (name: string, failsafe: Record<string, unknown>) => ({ name, path: modelPath, labels: [...TABULAR_MODEL.labels], features: FEATURES, window, failsafe });
  const s = await startSensorAgent(host, {
    dir,
    config: {
      opcua: {
        pkiDir: 'pki',
        servers: [{ id: 'plant', endpoint: plant.endpoint, securityMode: 'None', securityPolicy: 'None', tags: plantTags(['Vibration', 'Temperature', 'Pressure', 'MotorCurrent']), reconnect: { minMs: 200, maxMs: 1000 } }],
      },
      sensorModels: [
        bearing('bearing-rule', { minConfidence: 0.999, rules: [{ feature: 'Temperature.mean', above: 1000, label: 'overheated' }, { feature: 'Vibration.mean', above: 0, label: 'running' }] }),
        bearing('bearing-manual', { minConfidence: 0.999, rules: [{ feature: 'Temperature.mean', above: 1000, label: 'overheated' }], manual: { writeBack: { server: 'plant', nodeId: PLANT_NODES.RejectGate, dataType: 'Boolean' } } }),
      ],
    },
  });

  await waitFor('3 windows of each model', () => s.predictions('bearing-rule').length >= 3 && s.predictions('bearing-manual').length >= 3, 30_000);
  for (const p of s.predictions('bearing-rule')) {
    assert.deepEqual([p.step, p.label, p.score, p.fallbackReason], ['rule', 'running', 1, 'low-confidence; rule Vibration.mean > 0']);
    assert.ok(p.features!['Vibration.mean']! > 0);
  }
  for (const p of s.predictions('bearing-manual')) assert.deepEqual([p.step, p.label, p.score], ['manual', 'needs_inspection', 0]);
  await waitFor('the manual-inspection signal on the PLC', async () => ((await plant.send({ type: 'stats' })).writes?.[PLANT_NODES.RejectGate]?.length ?? 0) >= 1, 10_000);
  const before = s.predictions('bearing-manual').length;
  await waitFor('two more windows', () => s.predictions('bearing-manual').length >= before + 2, 10_000);
  assert.deepEqual((await plant.send({ type: 'stats' })).writes![PLANT_NODES.RejectGate], [true], 'set once while every window needs inspection');
  const views = s.agent.snapshot().oversight!.failsafe;
  assert.deepEqual(views.map((v) => [v.model, v.steps.model, v.manualNow]).sort(), [['bearing-manual', 0, true], ['bearing-rule', 0, false]]);
});
