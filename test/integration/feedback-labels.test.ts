import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { runLabel } from '../../central/feedback/label-command.js';
import { runFleet } from '../../central/fleet/fleet-command.js';
import { startBroker } from '../helpers/broker.js';
import { startIngest } from '../helpers/central.js';
import { partJpeg } from '../helpers/images.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Ground truth on a running agent: operators label predictions through the token-gated
 * status action, central through the MQTT command `edgectl label` publishes. Labels are
 * stored, counted in the model's live accuracy and sent to central's ingest; a wrong
 * prediction's camera image is captured for retraining. Wrong labels injected for real
 * drive live accuracy below the expected accuracy and raise the accuracy alarm.
 */

const TOKEN = 'operator-token-0123456789';
const FRAMES = 30;

test('wrong labels from operators raise the accuracy alarm, and the wrongly predicted inputs are captured', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'feedback-alarm-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const config = ConfigSchema.parse({
    deviceId: 'gw-accuracy',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'synthetic', fps: 15, width: 320, height: 240, defectRate: 0.3, limit: FRAMES }],
    models: [{ ...entry, feedback: { expectedAccuracy: 0.95, window: 20, minLabels: 20, every: 5, keepInputs: 64 } }],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  t.after(() => agent.stop());
  const url = agent.status!.url!;
  const db = agent.store.database;
  // A free-running camera may drop a frame on a busy machine: twenty predictions are all the test needs.
  await waitFor('20 predictions', () => (db.prepare('SELECT count(*) AS n FROM predictions').get() as { n: number }).n >= 20, 60_000);
  const predictions = db.prepare('SELECT seq, label FROM predictions ORDER BY seq LIMIT 20').all() as Array<{ seq: number; label: string }>;
  const label = (body: unknown, token: string | null = TOKEN) =>
    fetch(`${url}/api/actions/label`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  const status = async () => (await (await fetch(`${url}/api/status`)).json()) as ReturnType<Agent['snapshot']>;

  assert.equal((await label({ seq: predictions[0]!.seq, label: 'ok' }, null)).status, 401, 'no token, no label');
  const bad = await label({ seq: 'first', label: 'ok' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /seq: /);
  const missing = await label({ seq: 999_999, label: 'ok' });
  assert.equal(missing.status, 409);
  assert.match(((await missing.json()) as { error: string }).error, /no prediction 999999/);

  // Ten confirmed, then ten contradicted: 50 % against an expected 95 %.
  const opposite = (l: string) => (l === 'ok' ? 'defect' : 'ok');
  for (const [i, p] of predictions.slice(0, 20).entries()) {
    const res = await label({ seq: p.seq, label: i < 10 ? p.label : opposite(p.label), by: 'anna' });
    assert.equal(res.status, 200, await res.clone().text());
  }
  const s = await status();
  const alarm = s.alarms.find((a) => a.id === 'accuracy:defect');
  assert.ok(alarm, `an accuracy alarm: ${JSON.stringify(s.alarms)}`);
  assert.match(alarm.message, /accuracy of defect: 50\.0 % over 20 labels, expected 95\.0 %/);
  assert.equal(s.health.state, 'alarm', s.health.reason);
  const accuracy = s.oversight!.accuracy.find((a) => a.model === 'defect')!;
  assert.equal(accuracy.accuracy, 0.5);
  assert.equal(accuracy.expectedFrom, 'config');
  assert.equal(accuracy.chart.at(-1)?.level, 'alarm');
  assert.ok(accuracy.classes.length > 0 && accuracy.classes.every((c) => c.recall === null || (c.recall >= 0 && c.recall <= 1)));
  const events = agent.store.events.list({ kind: 'accuracy_alarm', limit: 5 });
  assert.equal(events.length, 1);
  assert.match(events[0]!.message, /drop 45\.0 % → alarm/);

  const stored = db.prepare('SELECT count(*) AS n, sum(correct) AS right FROM labels').get() as { n: number; right: number };
  assert.deepEqual(stored, { n: 20, right: 10 });
  const captured = db.prepare("SELECT seq, media_type FROM samples WHERE reason = 'mislabelled' ORDER BY seq").all() as Array<{ seq: number; media_type: string }>;
  assert.deepEqual(captured.map((c) => c.seq), predictions.slice(10, 20).map((p) => p.seq), 'every wrong prediction has its image captured');
  assert.ok(captured.every((c) => c.media_type === 'image/jpeg'));

  const ack = await fetch(`${url}/api/actions/alarms/accuracy:defect/ack`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ack.status, 200, await ack.clone().text());
  const after = await status();
  assert.equal(after.alarms.find((a) => a.id === 'accuracy:defect')?.acknowledged, true);
  assert.notEqual(after.health.state, 'alarm', after.health.reason);
});

test('labels sent as MQTT commands by edgectl label reach the store and central ingest; segment statistics reach ingest and edgectl fleet', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'feedback-mqtt-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const ingestDb = join(dir, 'central.db');
  const ingest = await startIngest(t, broker, ingestDb);
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  await mkdir(join(dir, 'in'));
  for (let i = 0; i < 10; i++) await writeFile(join(dir, 'in', `part-${i}.jpg`), await partJpeg(i));
  const config = ConfigSchema.parse({
    deviceId: 'gw-labels',
    site: 'plant-l',
    log: { level: 'silent' },
    sources: [{ id: 'cam1', type: 'folder', path: join(dir, 'in'), stableMs: 50, pollMs: 20 }],
    models: [entry],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { enabled: false },
    segments: { periodS: 3600, minPredictions: 1 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  t.after(() => agent.stop());
  const db = agent.store.database;
  await waitFor('10 predictions', () => (db.prepare('SELECT count(*) AS n FROM predictions').get() as { n: number }).n === 10, 60_000);
  await waitFor('the agent subscribed to label commands', () => agent.sync.connected, 10_000);
  const p = db.prepare('SELECT seq, label FROM predictions ORDER BY seq LIMIT 1 OFFSET 2').get() as { seq: number; label: string };
  const truth = p.label === 'ok' ? 'defect' : 'ok';

  const mqttVersion = String(broker.protocolVersion);
  const code = await runLabel(['--broker', broker.url, '--mqtt-version', mqttVersion, '--device', 'gw-labels', '--seq', String(p.seq), '--label', truth, '--by', 'qa-lead']);
  assert.equal(code, 0);
  await waitFor('the label in the agent store', () => db.prepare('SELECT 1 FROM labels WHERE seq = ?').get(p.seq) !== undefined, 20_000);
  assert.deepEqual(db.prepare('SELECT predicted, label, correct, by FROM labels WHERE seq = ?').get(p.seq), { predicted: p.label, label: truth, correct: 0, by: 'qa-lead' });
  await waitFor('the label at central', () => ingest.database.prepare('SELECT 1 FROM labels WHERE device = ? AND seq = ?').get('gw-labels', p.seq) !== undefined, 20_000);
  assert.deepEqual(ingest.database.prepare('SELECT model, predicted, label, correct, by FROM labels WHERE device = ? AND seq = ?').get('gw-labels', p.seq), { model: 'defect', predicted: p.label, label: truth, correct: 0, by: 'qa-lead' });

  // A malformed command is refused with its reason; nothing is stored.
  const raw = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion });
  t.after(() => raw.endAsync());
  await raw.publishAsync('edge/v1/gw-labels/cmd/label', JSON.stringify({ v: 1, seq: -4, label: 'ok' }), { qos: 1 });
  await waitFor('the refusal', () => agent.store.events.list({ kind: 'label_refused', limit: 5 }).length === 1, 10_000);
  assert.match(agent.store.events.list({ kind: 'label_refused', limit: 1 })[0]!.message, /seq: /);
  assert.equal((db.prepare('SELECT count(*) AS n FROM labels').get() as { n: number }).n, 1);
  assert.equal(await runLabel(['--broker', broker.url, '--device', 'gw-labels', '--seq', '3']), 2, 'a label is required');

  // The audit period closes; its per-segment statistics go to central with the label counted.
  agent.oversight.segments!.closePeriod();
  await waitFor('segment statistics at central', () => ingest.database.prepare('SELECT 1 FROM segment_stats WHERE device = ?').get('gw-labels') !== undefined, 20_000);
  const row = ingest.database.prepare('SELECT model, key, value, predictions, labelled, accuracy FROM segment_stats WHERE device = ?').get('gw-labels');
  assert.deepEqual(row, { model: 'defect', key: 'camera', value: 'cam1', predictions: 10, labelled: 1, accuracy: 0 });

  const out: string[] = [];
  t.mock.method(console, 'log', (line: string) => out.push(line));
  assert.equal(await runFleet(['--segments', '--db', ingestDb, '--json']), 0);
  const fleet = JSON.parse(out.join('\n')) as { segments: Array<{ model: string; site: string; key: string; value: string; predictions: number }> };
  assert.deepEqual(fleet.segments.map((s) => [s.model, s.key, s.value, s.predictions]), [['defect', 'camera', 'cam1', 10]]);
});
