import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { TABULAR_MODEL, writeTabularModel } from '../../agent/demo/tabular-model.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

test('a part-present edge triggers a camera capture; the frame and its prediction carry the part id read from the PLC', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-trigger-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), partCycleMs: 700 });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const s = await startSensorAgent(host, {
    dir,
    config: {
      sources: [{ id: 'cam1', type: 'synthetic', mode: 'triggered', fps: 50, width: 320, height: 240 }],
      opcua: {
        pkiDir: 'pki',
        servers: [{ id: 'line', endpoint: plant.endpoint, securityMode: 'Sign', securityPolicy: 'Aes128_Sha256_RsaOaep', tags: plantTags(['PartPresent', 'PartId', 'Vibration', 'Temperature', 'MotorCurrent']) }],
        triggers: [{ tag: 'PartPresent', edge: 'rising', camera: 'cam1', partIdTag: 'PartId' }],
      },
      // A window per part: it ends at the part-present edge.
      sensorModels: [
        {
          name: 'per-part',
          path: modelPath,
          labels: [...TABULAR_MODEL.labels],
          features: [{ tag: 'Vibration', fn: 'mean' }, { tag: 'Vibration', fn: 'max' }, { tag: 'Temperature', fn: 'mean' }, { tag: 'MotorCurrent', fn: 'mean' }],
          window: { sizeMs: 500, trigger: { tag: 'PartPresent', edge: 'rising' } },
        },
      ],
    },
  });
  await waitFor('4 triggered predictions', () => s.predictions('defect').length >= 4, 30_000);
  const preds = s.predictions('defect');
  const ids = preds.map((p) => p.partId);
  assert.ok(ids.every((id) => id !== undefined && /^P-\d{6}$/.test(id)), JSON.stringify(ids));
  assert.equal(new Set(ids).size, ids.length, 'one capture per part');
  const numbers = ids.map((id) => Number(id!.slice(2)));
  for (let i = 1; i < numbers.length; i++) assert.equal(numbers[i], numbers[i - 1]! + 1, `parts in order: ${ids.join(' ')}`);
  // A triggered camera does not free-run: frames are the parts, nothing else.
  const frames = s.agent.counters.framesIn;
  assert.ok(frames - preds.length <= 1, `${frames} frames for ${preds.length} predictions (one may be in flight)`);
  assert.ok(frames <= numbers.at(-1)! + 1, `frames ${frames} ≤ parts seen`);
  assert.equal(s.agent.snapshot().sources.find((x) => x.id === 'cam1')?.state, 'live');
  const windows = s.predictions('per-part');
  assert.ok(windows.length >= 3, `${windows.length} per-part windows`);
  const gaps = windows.slice(1).map((w, i) => w.ts - windows[i]!.ts);
  for (const g of gaps) assert.ok(Math.abs(g - 700) < 150, `windows end at the edges, 700 ms apart: ${gaps.join(', ')}`);
  assert.ok(windows.every((w) => w.features!['Vibration.mean']! > 0 && !w.flags), JSON.stringify(windows.map((w) => w.flags)));
});
