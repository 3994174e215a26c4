import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { generateSigningKey } from '../../central/keys/keygen.js';
import { loadSigner } from '../../central/keys/signer.js';
import type { FleetRow } from '../../central/fleet/fleet-table.js';
import { startArtifactServer } from '../../central/serve.js';
import { AgentProcess, writeConfig } from '../helpers/agent-process.js';
import { startBroker } from '../helpers/broker.js';
import { writeFailingModel } from '../helpers/failing-models.js';
import { edgectl } from '../helpers/ops-bench.js';
import { goldenFiles, packDefect, silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The whole path with nothing simulated: three agents as processes, Mosquitto, an artifact
 * server, and edgectl as an operator runs it. A good model goes out in two waves and
 * reaches everyone; a bad one is stopped after its first wave, where the device rolls
 * back by itself, and `edgectl fleet` shows what every device really serves.
 */

const PREFIX = 'e2e/v1';
const DEVICES = ['line1-gw-a', 'line1-gw-b', 'line1-gw-c'];

test('a rollout reaches three agents in two waves; a bad model stops after wave 1 and rolls back by itself', { timeout: 240_000 }, async (t) => {
  const dir = await tempDir(t, 'rollout-fleet-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const bundles = join(dir, 'bundles');
  await mkdir(bundles, { recursive: true });
  const server = await startArtifactServer({ dir: bundles, log: silentLog });
  t.after(() => server.close());
  const key = await generateSigningKey('ops-e2e', join(dir, 'keys'));
  const { signer } = await loadSigner(key.keyFile);
  const configModel = await writeDefectModel(join(dir, 'config-model'));

  const agents: AgentProcess[] = [];
  for (const id of DEVICES) {
    const home = join(dir, id);
    const config = await writeConfig(dir, {
      deviceId: id,
      site: 'plant-e2e',
      log: { level: 'info' },
      // Clean parts only: the bad model agrees with the good one in shadow and is caught in probation.
      sources: [{ id: 'cam1', type: 'synthetic', fps: 25, width: 320, height: 240, defectRate: 0 }],
      models: [defectModelEntry(configModel)],
      buffer: { path: join(home, 'agent.db'), lingerMs: 5 },
      broker: { url: broker.url, protocolVersion: broker.protocolVersion, topicPrefix: PREFIX, reconnect: { minMs: 100, maxMs: 500 } },
      status: { host: '127.0.0.1', port: 0 },
      rollout: {
        enabled: true,
        group: 'line-1',
        trustedKeys: [{ id: 'ops-e2e', publicKeyFile: key.publicKeyFile }],
        dir: join(home, 'bundles'),
        jitterMs: 300,
        shadow: { count: 8 },
        probation: { count: 16, latencyP99Ms: 400 },
        download: { minFreeBytes: 0 },
      },
    }, `${id}.yaml`);
    const agent = new AgentProcess(config).cleanupWith(t);
    agents.push(agent);
  }
  await Promise.all(agents.map((a) => a.ready()));

  const fleet = async (): Promise<FleetRow[]> => {
    const r = await edgectl(broker, PREFIX, ['fleet', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as FleetRow[];
  };
  await waitFor('every agent in the fleet view', async () => (await fleet()).filter((d) => d.status === 'online').length === 3, 20_000);

  // A good model, published over HTTP, rolled out to the site in two waves.
  const goldens = await goldenFiles(join(dir, 'goldens'));
  const good = await packDefect({ modelFile: await writeDefectModel(join(dir, 'src-good')), version: '2.0.0', counter: 2, signer, root: bundles, urlBase: server.url, goldens });
  const published = await edgectl(broker, PREFIX, ['publish', '--bundle', good.dir, '--key', key.keyFile]);
  assert.equal(published.code, 0, published.stderr);
  const first = await edgectl(broker, PREFIX, ['rollout', 'start', '--model', 'defect@2.0.0', '--target', 'site:plant-e2e', '--waves', '33%,100%', '--halt-on-failure', '1%', '--wave-timeout', '90s', '--id', 'r-good', '--key', key.keyFile], 200_000);
  assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
  assert.match(first.stdout, /to 3 devices in 2 waves \(33%: 1, 100%: 2\)/);
  assert.match(first.stdout, /wave 1\/2: 1\/1 committed/);
  assert.match(first.stdout, /wave 2\/2: 2\/2 committed/);
  assert.match(first.stdout, /rollout r-good done: 3\/3 devices serve defect 2\.0\.0/);
  for (const row of await fleet()) {
    assert.deepEqual(row.serving, ['defect@2.0.0'], `${row.device} serves 2.0.0`);
    assert.equal(row.rollout?.state, 'committed');
  }

  // A model whose confidence collapses, aimed at the group: wave 1 fails, the rollout halts.
  const bad = await packDefect({ modelFile: await writeFailingModel(join(dir, 'src-bad'), 'collapsed'), version: '2.1.0', counter: 3, signer, root: bundles, urlBase: server.url });
  assert.equal((await edgectl(broker, PREFIX, ['publish', '--bundle', bad.dir, '--key', key.keyFile])).code, 0);
  const second = await edgectl(broker, PREFIX, ['rollout', 'start', '--model', 'defect@2.1.0', '--target', 'group:line-1', '--waves', '33%,100%', '--halt-on-failure', '1%', '--wave-timeout', '90s', '--id', 'r-bad', '--key', key.keyFile], 200_000);
  assert.equal(second.code, 1, `halted: ${second.stdout}\n${second.stderr}`);
  assert.match(second.stdout, /to 3 devices in 2 waves/);
  assert.match(`${second.stdout}${second.stderr}`, /halted/i);
  assert.doesNotMatch(second.stdout, /wave 2\/2/, 'wave 2 never starts');

  const rows = await fleet();
  const [waveOne, ...rest] = rows;
  assert.equal(waveOne?.device, 'line1-gw-a', 'sorted ids: gw-a makes wave 1');
  assert.deepEqual(waveOne?.serving, ['defect@2.0.0'], 'the wave-1 device went back to 2.0.0 by itself');
  assert.equal(waveOne?.rollout?.state, 'rolled-back');
  assert.match(waveOne?.rollout?.reason ?? '', /confidence collapsed/);
  for (const row of rest) {
    assert.deepEqual(row.serving, ['defect@2.0.0'], `${row.device} never got 2.1.0`);
    assert.equal(row.rollout?.state, 'committed');
  }
  // What the agents' own pages say agrees with the fleet view.
  for (const agent of agents) {
    const models = (await agent.status()).models;
    assert.deepEqual(models.map((m) => `${m.name}@${m.version}`), ['defect@2.0.0']);
  }
  const table = await edgectl(broker, PREFIX, ['fleet']);
  assert.match(table.stdout, /line1-gw-a\s+plant-e2e\s+online\s+defect@2\.0\.0\s+rolled-back/);
  for (const agent of agents) assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
});
