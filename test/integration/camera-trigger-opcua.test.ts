import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CameraServer } from '../helpers/camera-server.js';
import { partJpeg } from '../helpers/images.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

test('an OPC-UA part-present edge makes a triggered MJPEG camera take the part, carrying its id', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-trigger-opcua-');
  const mjpeg = new CameraServer({ pictures: await Promise.all([0, 1].map((i) => partJpeg(i))), partMs: 40 });
  await mjpeg.start();
  host.after(() => mjpeg.stop());
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), partCycleMs: 600 });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const s = await startSensorAgent(host, {
    dir,
    config: {
      sources: [{ id: 'cam1', type: 'mjpeg', mode: 'triggered', url: `${mjpeg.url}/stream.mjpg` }],
      opcua: {
        pkiDir: 'pki',
        servers: [{ id: 'line', endpoint: plant.endpoint, securityMode: 'Sign', securityPolicy: 'Aes128_Sha256_RsaOaep', tags: plantTags(['PartPresent', 'PartId']) }],
        triggers: [{ tag: 'PartPresent', edge: 'rising', camera: 'cam1', partIdTag: 'PartId' }],
      },
    },
  });
  await waitFor('3 triggered predictions', () => s.predictions('defect').length >= 3, 30_000);
  const ids = s.predictions('defect').map((p) => p.partId);
  assert.ok(ids.every((id) => id !== undefined && /^P-\d{6}$/.test(id)), JSON.stringify(ids));
  assert.equal(new Set(ids).size, ids.length, 'one capture per part');
  assert.ok(s.agent.counters.framesIn - ids.length <= 1, 'the stream runs, but only triggered frames reach the model');
});
