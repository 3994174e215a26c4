import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker.js';
import { eventKinds, predictionCount, sourceStateOf, startCameraAgent } from '../helpers/camera-agent.js';
import { CameraServer } from '../helpers/camera-server.js';
import { corruptJpeg, partJpeg, truncatedJpeg } from '../helpers/images.js';
import { withAgentDb } from '../helpers/agent-db.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const WAIT = 20_000;

async function pictures(n = 3): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => partJpeg(i)));
}

function rejectionCodes(dbPath: string): string[] {
  return withAgentDb(dbPath, (db) => db.prepare<[], string>("SELECT json_extract(detail, '$.code') FROM events WHERE kind = 'frame_rejected' ORDER BY id").pluck().all());
}

test('fault 17: truncated, corrupt, empty and non-image pictures from HTTP cameras are refused and counted, no prediction, no crash', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-f17-cam-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const good = await pictures();
  const snapshot = new CameraServer({ pictures: good });
  const mjpeg = new CameraServer({ pictures: good, partMs: 60 });
  for (const s of [snapshot, mjpeg]) {
    await s.start();
    host.after(() => s.stop());
  }
  // Every bad picture is served before any good one; their order is what the camera sends.
  snapshot.queued.push(await truncatedJpeg(5), await corruptJpeg(6), Buffer.alloc(0), Buffer.from('<html><body>Camera busy</body></html>'));
  mjpeg.queued.push(await truncatedJpeg(7), await corruptJpeg(8));
  const { agent, dbPath } = await startCameraAgent(
    host,
    dir,
    broker,
    [
      { id: 'snap', type: 'snapshot', url: `${snapshot.url}/snapshot.jpg`, intervalMs: 50 },
      { id: 'stream', type: 'mjpeg', url: `${mjpeg.url}/stream.mjpg` },
    ],
    // Room for every frame: a frame dropped for being late would hide whether it was refused.
    { pipeline: { queueSize: 100 } },
  );

  await waitFor('good pictures predicted after the bad ones', () => predictionCount(dbPath, 'snap') >= 3 && predictionCount(dbPath, 'stream') >= 3, WAIT);
  await waitFor('all six bad pictures refused', () => agent.counters.rejected >= 6, WAIT);
  assert.equal(agent.counters.rejected, 6, 'each bad picture counted once');
  assert.equal(agent.counters.dropped, 0);
  assert.equal(agent.counters.errors, 0, 'a bad picture is not a pipeline error');
  // The first refusal of each camera is audited with its reason; the rest are summed into the next event.
  const codes = rejectionCodes(dbPath);
  assert.ok(codes.includes('E_FRAME_TRUNCATED'), codes.join(', '));
  assert.deepEqual(eventKinds(dbPath, 'snap').filter((k) => k === 'frame_rejected').length, 1);
  const before = predictionCount(dbPath, 'snap');
  await waitFor('the camera keeps going', () => predictionCount(dbPath, 'snap') > before + 4, WAIT);
  assert.equal(sourceStateOf(agent, 'snap'), 'live');
  assert.equal(sourceStateOf(agent, 'stream'), 'live');
});

test('fault 18: stalled cameras show as stalled, are retried with backoff, and resume by themselves', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-f18-cam-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const good = await pictures();
  const snapshot = new CameraServer({ pictures: good });
  const mjpeg = new CameraServer({ pictures: good, partMs: 50 });
  for (const s of [snapshot, mjpeg]) {
    await s.start();
    host.after(() => s.stop());
  }
  const reconnect = { minMs: 300, maxMs: 1200 };
  const { agent, dbPath } = await startCameraAgent(host, dir, broker, [
    { id: 'snap', type: 'snapshot', url: `${snapshot.url}/snapshot.jpg`, intervalMs: 50, timeoutMs: 200, reconnect },
    { id: 'stream', type: 'mjpeg', url: `${mjpeg.url}/stream.mjpg`, timeoutMs: 200, stallTimeoutMs: 500, reconnect },
  ]);
  await waitFor('both cameras live', () => predictionCount(dbPath, 'snap') >= 2 && predictionCount(dbPath, 'stream') >= 2, WAIT);

  // Both web servers freeze: requests are taken but never answered, the open stream goes quiet.
  snapshot.stall();
  mjpeg.stall();
  const stalledAt = Date.now();
  await waitFor('both shown stalled', () => sourceStateOf(agent, 'snap') === 'stalled' && sourceStateOf(agent, 'stream') === 'stalled', WAIT);
  const health = agent.snapshot().health;
  assert.notEqual(health.state, 'healthy', 'a stalled camera degrades the health verdict');
  assert.match(health.reason ?? '', /stalled/);
  await waitFor('several retries', () => snapshot.requests.filter((r) => r.at > stalledAt).length >= 4 && mjpeg.requests.filter((r) => r.at > stalledAt).length >= 3, WAIT);

  // Backoff: consecutive attempts during the outage are at least the timeout plus minMs apart, never a hot loop.
  for (const [name, server, gapMs] of [['snapshot', snapshot, 200 + 300], ['mjpeg', mjpeg, 200 + 300]] as const) {
    const times = server.requests.filter((r) => r.at > stalledAt + 1000).map((r) => r.at);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= gapMs - 50, `${name}: attempts ${times[i]! - times[i - 1]!} ms apart`);
  }
  assert.ok(eventKinds(dbPath, 'snap').includes('camera_unreachable'));
  assert.ok(eventKinds(dbPath, 'stream').includes('camera_stalled'));

  const before = { snap: predictionCount(dbPath, 'snap'), stream: predictionCount(dbPath, 'stream') };
  snapshot.unstall();
  mjpeg.unstall();
  await waitFor('both resume by themselves', () => predictionCount(dbPath, 'snap') > before.snap + 2 && predictionCount(dbPath, 'stream') > before.stream + 2, WAIT);
  await waitFor('both shown live', () => sourceStateOf(agent, 'snap') === 'live' && sourceStateOf(agent, 'stream') === 'live', WAIT);
  for (const id of ['snap', 'stream']) {
    const kinds = eventKinds(dbPath, id);
    assert.ok(kinds.includes('camera_resumed'), `${id}: ${kinds.join(', ')}`);
    assert.equal(kinds.filter((k) => k === 'camera_unreachable' || k === 'camera_stalled').length, 1, `${id}: one event per outage: ${kinds.join(', ')}`);
  }
});
