import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { openDatabase } from '../../agent/buffer/database.js';
import { SampleStore } from '../../agent/buffer/samples.js';
import type { Judged, Level } from '../../agent/drift/judge.js';
import { DriftWindowStore } from '../../agent/drift/window-store.js';
import { PredictionContext } from '../../agent/status/prediction-context.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_800_000_000_000;

function stats(level: Level): Judged[] {
  return [
    { subject: 'image.brightness', statistic: 'psi', value: level === 'alarm' ? 0.61234 : 0.02, level },
    { subject: 'image.brightness', statistic: 'ks', value: 0.4, level: level === 'ok' ? 'ok' : 'warn' },
    { subject: 'image.contrast', statistic: 'psi', value: 0.05, level: 'ok' },
  ];
}

test("a prediction's drift window and captured input, from the agent's SQLite file", async (t) => {
  const dir = await tempDir(t, 'status-context-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const windows = new DriftWindowStore(db);
  // Windows of 10 s each for "cam", back to back, then a gap; another model's windows in between.
  for (let i = 0; i < 6; i++) {
    const level: Level = i === 3 ? 'alarm' : 'ok';
    windows.add({ model: 'cam', modelVersion: '1.0.0', startedAt: T0 + i * 10_000, endedAt: T0 + (i + 1) * 10_000 - 1, samples: 20, level, stats: stats(level) });
    windows.add({ model: 'pump', modelVersion: '1.0.0', startedAt: T0 + i * 10_000, endedAt: T0 + (i + 1) * 10_000 - 1, samples: 5, level: 'warn', stats: stats('warn') });
  }
  windows.add({ model: 'cam', modelVersion: '1.0.0', startedAt: T0 + 600_000, endedAt: T0 + 610_000, samples: 20, level: 'ok', stats: stats('ok') });
  const ctx = new PredictionContext(db);

  const judged = ctx.drift('cam', T0 + 35_000);
  assert.deepEqual(judged, {
    level: 'alarm',
    windowStartedAt: T0 + 30_000,
    windowEndedAt: T0 + 39_999,
    samples: 20,
    psi: 0.6123,
    subject: 'image.brightness',
    findings: ['image.brightness psi 0.6123 (alarm)', 'image.brightness ks 0.4 (warn)'],
  });
  assert.equal(ctx.drift('cam', T0 + 5_000)?.level, 'ok');
  assert.deepEqual(ctx.drift('cam', T0 + 5_000)?.findings, [], 'nothing outside its limits');
  assert.equal(ctx.drift('cam', T0 - 500)?.windowStartedAt, T0, 'a frame stamped just before its window opened still belongs to it');
  assert.equal(ctx.drift('cam', T0 - 60_000), null, 'before drift was watched');
  assert.equal(ctx.drift('cam', T0 + 300_000), null, 'in a gap no window covers (the next one started later)');
  assert.equal(ctx.drift('cam', T0 + 700_000), null, 'the window is still open');
  assert.equal(ctx.drift('nobody', T0 + 5_000), null, 'a model never watched');
  assert.equal(ctx.drift('pump', T0 + 5_000)?.level, 'warn', 'each model its own windows');

  const samples = new SampleStore({ db, quotaBytes: 1_000_000, events: { record: () => undefined } as never, log: pino({ level: 'silent' }), clock: { now: () => T0, monotonic: () => 0 } as never });
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
  samples.add({ source: 'cam1', frameId: 'part-1', seq: 41, mediaType: 'image/jpeg', data: jpeg, reason: 'drift-alarm' });
  samples.add({ source: 'pump1', frameId: 'w-9', seq: 42, mediaType: 'application/json', data: Buffer.from('{"x":[1,2]}'), reason: 'low-confidence' });
  assert.deepEqual(ctx.thumbnail(41), { url: '/api/predictions/41/input', mediaType: 'image/jpeg', bytes: jpeg.length, reason: 'drift-alarm' });
  assert.deepEqual(ctx.input(41), { mediaType: 'image/jpeg', data: jpeg });
  assert.equal(ctx.thumbnail(42), null, 'a feature row is no picture');
  assert.equal(ctx.input(42), undefined);
  assert.equal(ctx.thumbnail(43), null, 'nothing kept');
});
