import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBroker } from '../helpers/broker.js';
import { eventKinds, predictionCount, predictionsBySource, sourceStateOf, startCameraAgent } from '../helpers/camera-agent.js';
import { withAgentDb } from '../helpers/agent-db.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const WAIT = 25_000;
/** A real board photograph when the shared data is there; ffmpeg's test pattern otherwise. */
const PHOTO = join(import.meta.dirname, '../../../shared/data/images/deeppcb/00041000_test.jpg');

async function hasFfmpeg(): Promise<boolean> {
  try {
    await run('ffmpeg', ['-version']);
    return true;
  } catch {
    return false;
  }
}

/** A short H.264 clip, as a line camera's recording would be: the photo turning slowly, 10 fps. */
async function clip(dir: string, seconds: number): Promise<string> {
  const out = join(dir, `line-${seconds}s.mp4`);
  const input = existsSync(PHOTO) ? ['-loop', '1', '-i', PHOTO] : ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10'];
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...input, '-vf', 'scale=320:240,rotate=0.05*PI*t', '-t', String(seconds), '-r', '10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

const skip = (await hasFfmpeg()) ? false : 'ffmpeg is not installed (Debian: apt-get install ffmpeg)';

test('a recorded video through ffmpeg: frames are cropped, rotated, capped and predicted into SQLite', { timeout: 60_000, skip }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-ffmpeg-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  await clip(dir, 2);
  const { agent, dbPath } = await startCameraAgent(host, dir, broker, [
    { id: 'line', type: 'video', path: 'line-2s.mp4', maxFps: 5, roi: { left: 20, top: 10, width: 280, height: 220 }, rotate: 90, models: ['defect-b'] },
  ]);
  await waitFor('predictions from the video camera', () => predictionCount(dbPath, 'line') >= 8, WAIT);
  assert.deepEqual(predictionsBySource(dbPath).get('line')?.models, ['defect-b']);
  assert.equal(agent.counters.rejected, 0);
  assert.equal(sourceStateOf(agent, 'line'), 'live');
  const labels = withAgentDb(dbPath, (db) => db.prepare<[], string>("SELECT DISTINCT label FROM predictions WHERE source = 'line'").pluck().all());
  assert.ok(labels.length >= 1);
});

test('ffmpeg that exits is started again with backoff, and the camera resumes each time', { timeout: 60_000, skip }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'camera-ffmpeg-restart-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  await clip(dir, 1);
  const { agent, dbPath } = await startCameraAgent(host, dir, broker, [
    // Without loop, ffmpeg ends with the clip: each end is an outage the watchdog loop recovers from.
    { id: 'replay', type: 'video', path: 'line-1s.mp4', loop: false, reconnect: { minMs: 200, maxMs: 400 } },
    { id: 'missing', type: 'video', path: 'line-1s.mp4', ffmpeg: '/nonexistent/ffmpeg', reconnect: { minMs: 200, maxMs: 400 } },
  ]);
  await waitFor('three runs of the clip', () => eventKinds(dbPath, 'replay').filter((k) => k === 'camera_resumed').length >= 2, WAIT);
  const kinds = eventKinds(dbPath, 'replay');
  assert.ok(kinds.includes('camera_disconnected'), kinds.join(', '));
  assert.ok(predictionCount(dbPath, 'replay') >= 15, 'frames of several runs');
  const missing = withAgentDb(dbPath, (db) => db.prepare<[], string>("SELECT message FROM events WHERE source = 'missing' AND kind = 'camera_disconnected'").pluck().all());
  assert.equal(missing.length, 1, 'one event for the outage, not one per retry');
  assert.match(missing[0]!, /cannot start \/nonexistent\/ffmpeg: .*ENOENT.*apt-get install ffmpeg/);
  assert.equal(predictionCount(dbPath, 'missing'), 0);
  assert.ok(agent.snapshot().sources.some((s) => s.id === 'missing'));
});
