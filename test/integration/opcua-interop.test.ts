import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { runBin } from '../helpers/child.js';
import { startSensorAgent } from '../helpers/opcua-agent.js';
import { trustCertificate } from '../helpers/opcua-plant.js';
import { startSamplesServer } from '../helpers/opcua-samples.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const TAGS = [
  { name: 'PumpSpeed', nodeId: 'ns=1;s=PumpSpeed' },
  { name: 'Temperature', nodeId: 'ns=1;s=Temperature' },
  { name: 'Pressure', nodeId: 'ns=1;s=Pressure' },
];

test('interoperates with a server we did not write: the node-opcua-samples 2.14 sample server', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-interop-');
  const server = await startSamplesServer(host, join(dir, 'server'));

  await t.test('edge-agent opcua browse lists its variables with node ids, types and values', async () => {
    const r = await runBin('edge-agent', ['opcua', 'browse', server.endpoint, '--pki', join(dir, 'browse-pki'), '--depth', '3'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const tag of TAGS) assert.match(r.stdout, new RegExp(`^${tag.nodeId.replace(/[;=]/g, (c) => `\\${c}`)}\\s+Double\\s+\\S+\\s+/.*${tag.name}$`, 'm'), r.stdout.slice(0, 3000));
    assert.match(r.stdout, /^\d+ variables$/m);
  });

  await t.test('the agent subscribes over Basic256Sha256 SignAndEncrypt once its certificate is trusted, and samples flow', async () => {
    trustCertificate(join(dir, 'pki'), server.certificateFile);
    const s = await startSensorAgent(host, {
      dir,
      config: { opcua: { pkiDir: 'pki', servers: [{ id: 'samples', endpoint: server.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', tags: TAGS }] } },
    });
    const board = s.agent.opcua.board;
    await waitFor('samples from all three tags', () => TAGS.every((tag) => (board.tags.get(tag.name)?.samples ?? 0) >= 3), 30_000);
    const view = s.agent.snapshot().opcua!;
    assert.equal(view.servers[0]!.state, 'connected');
    for (const tag of view.tags) {
      assert.equal(tag.quality, 'good', JSON.stringify(tag));
      assert.equal(typeof tag.value, 'number');
    }
    const speed = view.tags.find((x) => x.name === 'PumpSpeed')!.value as number;
    // The sample server computes 200 + 100·sin(t/10 s).
    assert.ok(speed >= 100 && speed <= 300, `PumpSpeed ${speed}`);
  });
});
