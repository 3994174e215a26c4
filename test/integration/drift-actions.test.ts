import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { startBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { dimReferenceProfile } from '../helpers/dim-reference.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The operator's side of drift on a running agent: a camera whose light differs from the
 * reference raises a drift alarm that the page lists and the verdict (and so the LED)
 * follows; acknowledging it keeps it listed but stops it driving the LED; the capture
 * action keeps the next inputs whatever drift says. Both need the token.
 */

const TOKEN = 'operator-token-0123456789';

test('a drift alarm on a running agent: listed, acknowledged by an operator, and inputs captured on request', { timeout: 90_000 }, async (t) => {
  const dir = await tempDir(t, 'drift-actions-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));

  // The reference was taken under half the light this camera has now.
  const profileFile = await dimReferenceProfile(entry, dir, 60);

  const config = ConfigSchema.parse({
    deviceId: 'gw-actions',
    site: 'plant-e',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'synthetic', fps: 40, width: 320, height: 240, defectRate: 0.2 }],
    models: [{ ...entry, drift: { referenceFile: profileFile, window: { count: 20 }, minSamples: 20, capture: { belowConfidence: 0, duringAlarm: false } } }],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  t.after(() => agent.stop());
  const url = agent.status!.url;
  const post = (path: string, token?: string) => fetch(`${url}${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
  const status = async () => (await (await fetch(`${url}/api/status`)).json()) as ReturnType<Agent['snapshot']>;
  const samples = () => (agent.store.database.prepare('SELECT COUNT(*) AS n FROM samples').get() as { n: number }).n;

  await waitFor('a drift alarm', async () => (await status()).alarms.some((a) => a.id === 'drift:defect'), 20_000);
  let s = await status();
  const alarm = s.alarms.find((a) => a.id === 'drift:defect')!;
  assert.match(alarm.message, /image\.brightness psi/);
  assert.equal(alarm.acknowledged, false);
  assert.equal(s.health.state, 'alarm', s.health.reason);
  assert.equal(samples(), 0, 'nothing captured: capture is off for this model');

  assert.equal((await post('/api/actions/alarms/drift:defect/ack')).status, 401, 'no token, no acknowledgement');
  const unknown = await post('/api/actions/alarms/drift:nothing/ack', TOKEN);
  assert.equal(unknown.status, 409);
  assert.match(((await unknown.json()) as { error: string }).error, /no active alarm "drift:nothing"/);
  const acked = await post('/api/actions/alarms/drift:defect/ack', TOKEN);
  assert.equal(acked.status, 200, await acked.clone().text());
  s = await status();
  assert.equal(s.alarms.find((a) => a.id === 'drift:defect')?.acknowledged, true, 'still listed, marked acknowledged');
  assert.notEqual(s.health.state, 'alarm', `an acknowledged alarm no longer drives the verdict: ${s.health.reason}`);
  assert.ok(agent.store.events.list({ kind: 'alarm_acknowledged', limit: 5 }).length === 1);

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /^edge_agent_drift_level\{model="defect",level="alarm"\} 1$/m);
  assert.match(metrics, /^edge_agent_drift_psi\{model="defect",feature="image\.brightness"\} \d/m);

  const captured = await post('/api/actions/capture', TOKEN);
  assert.equal(captured.status, 200, await captured.clone().text());
  await waitFor('ten captured inputs', () => samples() === 10, 10_000);
  const row = agent.store.database.prepare('SELECT media_type, seq, data FROM samples ORDER BY id LIMIT 1').get() as { media_type: string; seq: number; data: Buffer };
  assert.equal(row.media_type, 'image/jpeg');
  assert.ok(row.seq > 0);
  assert.deepEqual([...row.data.subarray(0, 3)], [0xff, 0xd8, 0xff]);
});

test('a reference profile that is not one is refused at start, naming the model, the file and what is wrong', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'drift-profile-');
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const cases: Array<[string, string, RegExp]> = [
    ['garbage.json', '{"v": 1, "samples":', /JSON/i],
    ['wrong.json', JSON.stringify({ v: 1, samples: 5, outputs: { kind: 'classes', labels: ['ok'], counts: [5] }, confidence: { top1: { edges: [0, 1], counts: [1, 2], mean: 0, std: 0 }, entropy: { edges: [0, 1], counts: [5], mean: 0, std: 0 } } }), /counts/],
    ['missing.json', '', /cannot read/],
  ];
  for (const [name, text, says] of cases) {
    const file = join(dir, name);
    if (text) await writeFile(file, text);
    const config = ConfigSchema.parse({
      deviceId: 'gw-profile',
      site: 'plant-e',
      sources: [{ id: 'cam1', type: 'synthetic' }],
      models: [{ ...entry, drift: { referenceFile: file } }],
      buffer: { path: join(dir, `${name}.db`) },
      broker: { url: 'mqtt://127.0.0.1:1' },
      status: { enabled: false },
    });
    await assert.rejects(Agent.create({ config, baseDir: dir, log: silentLog }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_DRIFT_PROFILE');
      assert.ok(err.message.includes('models "defect" drift.referenceFile') && err.message.includes(name), err.message);
      assert.match(err.message, says);
      return true;
    });
  }
});
