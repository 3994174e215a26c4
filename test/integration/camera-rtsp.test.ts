import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withAgentDb } from '../helpers/agent-db.js';
import { startBroker } from '../helpers/broker.js';
import { eventKinds, predictionCount, sourceStateOf, startCameraAgent } from '../helpers/camera-agent.js';
import { RtspCamera, rtspCameraMissing } from '../helpers/rtsp-camera.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const WAIT = 25_000;

async function missing(): Promise<string | false> {
  try {
    await promisify(execFile)('ffmpeg', ['-version']);
  } catch {
    return 'ffmpeg is not installed (Debian: apt-get install ffmpeg)';
  }
  return (await rtspCameraMissing()) ?? false;
}

const skip = await missing();

test('an RTSP camera with credentials: predictions committed, a server restart survived, a wrong password reported without the password', { timeout: 60_000, skip }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-rtsp-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const camera = new RtspCamera({ username: 'edge', password: 'rtsp-Secret-42' });
  await camera.start();
  host.after(() => camera.stop());
  await writeFile(join(dir, 'cam.pw'), 'rtsp-Secret-42\n');
  await writeFile(join(dir, 'wrong.pw'), 'not-the-Secret-99\n');
  const reconnect = { minMs: 200, maxMs: 500 };
  const { agent, dbPath, logText } = await startCameraAgent(host, dir, broker, [
    { id: 'press', type: 'rtsp', url: camera.url, auth: { username: 'edge', passwordFile: 'cam.pw' }, maxFps: 5, stallTimeoutMs: 2000, reconnect },
    { id: 'locked', type: 'rtsp', url: camera.url, auth: { username: 'edge', passwordFile: 'wrong.pw' }, reconnect },
  ]);
  await waitFor('predictions from the RTSP camera', () => predictionCount(dbPath, 'press') >= 6, WAIT);
  assert.equal(sourceStateOf(agent, 'press'), 'live');

  // The camera reboots: ffmpeg loses the stream, is started again with backoff, and picks it up.
  await camera.stop();
  await waitFor('the outage noticed', () => eventKinds(dbPath, 'press').some((k) => k === 'camera_stalled' || k === 'camera_disconnected'), WAIT);
  const before = predictionCount(dbPath, 'press');
  await camera.start();
  await waitFor('predictions again', () => predictionCount(dbPath, 'press') >= before + 4, WAIT);
  assert.ok(eventKinds(dbPath, 'press').includes('camera_resumed'));

  const locked = withAgentDb(dbPath, (db) => db.prepare<[], string>("SELECT message FROM events WHERE source = 'locked'").pluck().all());
  assert.ok(locked.length >= 1, 'the refused camera is reported');
  assert.match(locked.join('\n'), /401|Unauthorized|authorization failed/i);
  assert.equal(predictionCount(dbPath, 'locked'), 0);
  const everything = `${logText()}\n${withAgentDb(dbPath, (db) => db.prepare<[], string>('SELECT message || coalesce(detail, \'\') FROM events').pluck().all()).join('\n')}`;
  for (const secret of ['rtsp-Secret-42', 'not-the-Secret-99']) assert.ok(!everything.includes(secret), `${secret} appears in the log or events`);
});
