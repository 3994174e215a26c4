import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker } from '../helpers/broker.js';
import { eventKinds, predictionCount, predictionsBySource, sourceStateOf, startCameraAgent } from '../helpers/camera-agent.js';
import { CameraServer } from '../helpers/camera-server.js';
import { partJpeg } from '../helpers/images.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const WAIT = 20_000;

async function pictures(n = 4): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => partJpeg(i)));
}

test('snapshots with Basic and Digest auth and an MJPEG stream with garbage and wrong lengths, each camera to its models', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-http-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const imgs = await pictures();
  const basic = new CameraServer({ pictures: imgs, auth: { scheme: 'basic', username: 'line3', password: 'basic-Secret-7' } });
  const digest = new CameraServer({ pictures: imgs, auth: { scheme: 'digest', username: 'line3', password: 'digest-Secret-9' } });
  const mjpeg = new CameraServer({ pictures: imgs, garbage: true, contentLength: 'wrong', partMs: 30 });
  for (const s of [basic, digest, mjpeg]) {
    await s.start();
    host.after(() => s.stop());
  }
  await writeFile(join(dir, 'digest.pw'), 'digest-Secret-9\n');
  const { agent, dbPath, logText } = await startCameraAgent(host, dir, broker, [
    { id: 'snap-basic', type: 'snapshot', url: `${basic.url}/snapshot.jpg`, auth: { scheme: 'basic', username: 'line3', password: 'basic-Secret-7' }, intervalMs: 100, models: ['defect-a'] },
    { id: 'snap-digest', type: 'snapshot', url: `${digest.url}/snapshot.jpg?channel=1`, auth: { username: 'line3', passwordFile: 'digest.pw' }, intervalMs: 100, models: ['defect-b'] },
    { id: 'mjpeg', type: 'mjpeg', url: `${mjpeg.url}/stream.mjpg`, maxFps: 8, roi: { left: 40, top: 20, width: 240, height: 200 }, rotate: 180 },
  ]);

  await waitFor('predictions from every camera', () => ['snap-basic', 'snap-digest', 'mjpeg'].every((s) => predictionCount(dbPath, s) >= 6), WAIT);
  const by = predictionsBySource(dbPath);
  assert.deepEqual(by.get('snap-basic')?.models, ['defect-a']);
  assert.deepEqual(by.get('snap-digest')?.models, ['defect-b']);
  assert.deepEqual(by.get('mjpeg')?.models, ['defect-a', 'defect-b'], 'a camera without models feeds every model');
  assert.equal(agent.counters.rejected, 0, 'garbage between parts is not a frame');

  // Digest: the challenge is answered once and its nonce reused, not one 401 per picture.
  const challenged = digest.requests.filter((r) => r.status === 401).length;
  const served = digest.requests.filter((r) => r.status === 200).length;
  assert.ok(served >= 6 && challenged <= 2, `digest: ${challenged} challenges for ${served} pictures`);
  assert.ok(basic.requests.every((r) => r.status === 200), 'basic credentials go with every request');

  // The frame-rate cap: parts come at ~33/s, at most 8/s reach the models.
  const frames = agent.snapshot().sources.find((s) => s.id === 'mjpeg')!.frames;
  assert.ok(frames < mjpeg.partsSent * 0.6, `${frames} frames taken of ${mjpeg.partsSent} parts sent`);
  assert.equal(sourceStateOf(agent, 'mjpeg'), 'live');

  const logs = logText();
  assert.ok(logs.length > 0);
  for (const secret of ['basic-Secret-7', 'digest-Secret-9', Buffer.from('line3:basic-Secret-7').toString('base64')]) assert.ok(!logs.includes(secret), 'no credential in the log');
});

test('an MJPEG stream that stalls shows stalled, is reconnected with backoff and resumes when the camera is back', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-stall-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const camera = new CameraServer({ pictures: await pictures(), partMs: 50 });
  await camera.start();
  host.after(() => camera.stop());
  const { agent, dbPath } = await startCameraAgent(host, dir, broker, [
    { id: 'press', type: 'mjpeg', url: `${camera.url}/stream.mjpg`, stallTimeoutMs: 700, reconnect: { minMs: 100, maxMs: 400 } },
  ]);
  await waitFor('first predictions', () => predictionCount(dbPath, 'press') >= 3, WAIT);

  camera.stall();
  await waitFor('the camera shown stalled', () => sourceStateOf(agent, 'press') === 'stalled', WAIT);
  await waitFor('a camera_stalled event', () => eventKinds(dbPath, 'press').includes('camera_stalled'), WAIT);
  const connects = () => camera.requests.filter((r) => r.path === '/stream.mjpg').length;
  await waitFor('reconnects while stalled', () => connects() >= 3, WAIT);

  // Then the camera goes away altogether and comes back on the same address.
  await camera.stop();
  camera.unstall();
  const before = predictionCount(dbPath, 'press');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(sourceStateOf(agent, 'press'), 'stalled');
  await camera.start();
  await waitFor('predictions again', () => predictionCount(dbPath, 'press') >= before + 3, WAIT);
  await waitFor('the camera shown live', () => sourceStateOf(agent, 'press') === 'live', WAIT);
  const kinds = eventKinds(dbPath, 'press');
  assert.equal(kinds.filter((k) => k === 'camera_stalled').length, 1, `one event per outage, not per retry: ${kinds.join(', ')}`);
  assert.ok(kinds.includes('camera_resumed'), kinds.join(', '));
});
