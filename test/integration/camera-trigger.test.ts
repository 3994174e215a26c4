import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectAsync } from 'mqtt';
import { captureCommandTopic } from '../../protocol/capture.js';
import { withAgentDb } from '../helpers/agent-db.js';
import { startBroker } from '../helpers/broker.js';
import { startCameraAgent } from '../helpers/camera-agent.js';
import { CameraServer } from '../helpers/camera-server.js';
import { partJpeg } from '../helpers/images.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const WAIT = 20_000;

/** Part ids of a source's predictions in the order the frames arrived (commits may finish out of order). */
function partIds(dbPath: string, source: string): Array<string | null> {
  return withAgentDb(dbPath, (db) => db.prepare<[string], string | null>("SELECT json_extract(payload, '$.partId') FROM predictions WHERE source = ? ORDER BY ts, seq").pluck().all(source));
}

function refusals(dbPath: string): string[] {
  return withAgentDb(dbPath, (db) => db.prepare<[], string>("SELECT message FROM events WHERE kind = 'capture_refused' ORDER BY id").pluck().all());
}

test('MQTT capture commands: one picture per valid command from triggered snapshot and MJPEG cameras; bad commands refused', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-trigger-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const imgs = await Promise.all([0, 1, 2].map((i) => partJpeg(i)));
  const snapshot = new CameraServer({ pictures: imgs });
  const mjpeg = new CameraServer({ pictures: imgs, partMs: 40 });
  for (const s of [snapshot, mjpeg]) {
    await s.start();
    host.after(() => s.stop());
  }
  const { agent, dbPath } = await startCameraAgent(host, dir, broker, [
    { id: 'station-1', type: 'snapshot', mode: 'triggered', url: `${snapshot.url}/snapshot.jpg`, intervalMs: 20, models: ['defect-a'] },
    { id: 'station-2', type: 'mjpeg', mode: 'triggered', url: `${mjpeg.url}/stream.mjpg`, models: ['defect-a'] },
    { id: 'overview', type: 'mjpeg', url: `${mjpeg.url}/stream.mjpg`, maxFps: 2, models: ['defect-b'] },
  ]);
  const client = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: 'line-controller' });
  host.after(() => client.endAsync());
  const topic = captureCommandTopic('edge/v1', 'camera-gw');
  // The stream must be running before a command can be answered with its next frame.
  await waitFor('the free-running camera on the same stream predicts', () => withAgentDb(dbPath, (db) => (db.prepare("SELECT count(*) FROM predictions WHERE source = 'overview'").pluck().get() as number) >= 1), WAIT);
  // A command for no camera is refused with an event: once one is, the agent hears the topic.
  await waitFor('the agent hears capture commands', async () => {
    await client.publishAsync(topic, JSON.stringify({ v: 1, camera: 'probe' }), { qos: 1 });
    return refusals(dbPath).length > 0;
  }, WAIT, 200);
  const probes = refusals(dbPath).length;
  for (const partId of ['P-1', 'P-2', 'P-3']) await client.publishAsync(topic, JSON.stringify({ v: 1, camera: 'station-1', partId }), { qos: 1 });
  for (const partId of ['Q-1', 'Q-2']) await client.publishAsync(topic, JSON.stringify({ v: 1, camera: 'station-2', partId }), { qos: 1 });
  await client.publishAsync(topic, JSON.stringify({ v: 1, camera: 'station-2' }), { qos: 1 });
  for (const bad of ['not json', JSON.stringify({ v: 2, camera: 'station-1' }), JSON.stringify({ v: 1, camera: 'overview' }), JSON.stringify({ v: 1, camera: 'station-1', partId: 'P-4', extra: 1 })]) {
    await client.publishAsync(topic, bad, { qos: 1 });
  }
  await waitFor('every valid command answered', () => partIds(dbPath, 'station-1').length >= 3 && partIds(dbPath, 'station-2').length >= 3, WAIT);
  await waitFor('four refusals', () => refusals(dbPath).length >= probes + 4, WAIT);
  // A moment for anything wrongly captured to show up.
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(partIds(dbPath, 'station-1'), ['P-1', 'P-2', 'P-3'], 'one picture per command, in order, none free-running');
  assert.deepEqual(partIds(dbPath, 'station-2'), ['Q-1', 'Q-2', null]);
  const reasons = refusals(dbPath).slice(probes).join('\n');
  assert.match(reasons, /not JSON/);
  assert.match(reasons, /v: Invalid input: expected 1/);
  assert.match(reasons, /no triggered camera "overview"/);
  assert.match(reasons, /unknown key "extra"/);
  // A triggered camera is quiet between parts, not stalled.
  assert.notEqual(agent.snapshot().sources.find((s) => s.id === 'station-1')?.state, 'stalled');
});
