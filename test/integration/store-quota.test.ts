import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { NewPrediction } from '../../agent/buffer/outbox.js';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const MiB = 1024 * 1024;

function prediction(i: number, extra: Partial<NewPrediction> & { explanation?: unknown } = {}): NewPrediction {
  return {
    ts: 1_700_000_000_000 + i,
    source: 'cam-1',
    frameId: `f-${i}-${'x'.repeat(900)}`,
    model: 'pcb-aoi',
    modelVersion: '1.0.0',
    label: 'ok',
    score: 0.95,
    topK: [{ label: 'ok', score: 0.95 }],
    latencyMs: 3,
    ...extra,
  };
}

async function openStore(t: CleanupHost, storeBytes: number, samplesBytes = MiB) {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.db');
  const store = new Store({ config: { path, busyTimeoutMs: 1000, quota: { storeBytes, samplesBytes, modelsBytes: MiB }, checkpointS: 60 }, log, flagBelowScore: 0.6 });
  t.after(() => store.stop());
  await store.start(new AbortController().signal);
  return { store, path, dir };
}

const seqsWhere = (store: Store, where: string) =>
  store.database.prepare<[], number>(`SELECT seq FROM predictions WHERE ${where} ORDER BY seq`).pluck().all();

test('eviction follows the documented order: sent, plain, events, flagged, explained, alarms; oldest first in a class', async (t) => {
  const { store } = await openStore(t, 2 * MiB);
  const quota = store.quota!;
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 50, lingerMs: 0, quota });
  t.after(() => writer.stop());

  // 200 sent, then interleaved flagged (score 0.3), explained and plain rows, and some events.
  for (let i = 0; i < 200; i++) await writer.add(prediction(i));
  store.outbox.markSent(1, 200, Date.now());
  for (let i = 200; i < 500; i++) {
    const kind = i % 3;
    await writer.add(prediction(i, kind === 0 ? { score: 0.3 } : kind === 1 ? { explanation: { method: 'shap', values: [0.1] } } : {}));
    if (i % 50 === 0) store.events.record({ level: 'info', kind: 'note', message: `info ${i}` });
    if (i % 100 === 0) store.events.record({ level: 'error', kind: 'drift_alarm', message: `alarm ${i}` });
  }
  const used = quota.usedBytes();
  assert.ok(used < 2 * MiB, `under the quota so far (${used} B)`);
  assert.equal(quota.evicted.sent + quota.evicted.plain, 0, 'nothing evicted while there was room');

  // Keep writing plain rows: space must come from sent rows first, then the oldest plain ones.
  for (let i = 500; i < 1700; i++) await writer.add(prediction(i));
  assert.ok(quota.usedBytes() <= 2 * MiB, `the quota holds (${quota.usedBytes()} B)`);
  assert.equal(seqsWhere(store, 'seq <= 200').length, 0, 'acknowledged rows went first');
  assert.equal(store.database.prepare('SELECT count(*) FROM predictions_acked').pluck().get(), 0, 'their run is forgotten with them');
  assert.ok(quota.evicted.sent === 200, `all 200 sent rows pruned (${quota.evicted.sent})`);
  assert.ok(quota.evicted.plain > 0, 'then unsent plain rows');
  const flagged = seqsWhere(store, 'keep = 1');
  const explained = seqsWhere(store, 'keep = 2');
  assert.equal(flagged.length, 100, 'no flagged row evicted while plain rows remained');
  assert.equal(explained.length, 100, 'no explained row evicted while plain rows remained');
  const plain = seqsWhere(store, 'keep = 0');
  const newest = plain.at(-1)!;
  assert.equal(newest, 1700, 'the newest prediction is kept');
  // Oldest first: the plain rows left are one run ending at the newest one.
  assert.deepEqual(plain, Array.from({ length: plain.length }, (_, k) => newest - plain.length + 1 + k), 'plain rows were evicted oldest first');

  const evictedEvents = store.events.list({ kind: 'store_evicted', limit: 1000 });
  assert.ok(evictedEvents.length > 0, 'every eviction is reported as an event');
  const reported = evictedEvents.reduce((n, e) => n + Number(e.detail?.count ?? 0), 0);
  assert.equal(reported, quota.evicted.plain + quota.evicted.events + quota.evicted.flagged + quota.evicted.explained + quota.evicted.alarms, 'events account for every evicted unsent row');
  assert.ok(evictedEvents.every((e) => /evicted \d+/.test(e.message)));

  // Now only flagged/explained rows and events are left besides new plain ones: write rows that are
  // all flagged so plain runs out; info events go before flagged rows, alarms stay to the end.
  for (let i = 1700; i < 3200; i++) await writer.add(prediction(i, { score: 0.3 }));
  assert.ok(quota.usedBytes() <= 2 * MiB);
  assert.equal(seqsWhere(store, 'keep = 0').length, 0, 'plain rows go before flagged ones');
  assert.ok(quota.evicted.events > 0, 'info events went before flagged rows');
  assert.equal(seqsWhere(store, 'keep = 2').length, 100, 'explained rows outlive flagged ones');
  const alarms = store.database.prepare<[], number>("SELECT count(*) FROM events WHERE kind = 'drift_alarm'").pluck().get();
  assert.equal(alarms, 3, 'alarms are kept longest');
  assert.equal(quota.evicted.alarms, 0);
});

test('a store at its quota keeps accepting writes and its file stays within the budget', async (t) => {
  const { store, path } = await openStore(t, MiB);
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 64, lingerMs: 0, quota: store.quota! });
  t.after(() => writer.stop());
  const results = await Promise.allSettled(Array.from({ length: 5000 }, (_, i) => writer.add(prediction(i))));
  assert.equal(results.filter((r) => r.status === 'rejected').length, 0, 'no write failed');
  store.checkpoint('TRUNCATE');
  assert.ok(statSync(path).size <= MiB + 64 * 1024, `file ${statSync(path).size} B within the 1 MiB quota`);
  assert.ok(store.quota!.evicted.plain > 3000, 'the oldest rows made room');
  assert.equal(store.outbox.lastSeq(), 5000, 'every write got its sequence number');
});

test('SQLITE_FULL raises one alarm per episode, no crash; writes resume and recovery is reported when space returns', async (t) => {
  const { store } = await openStore(t, MiB);
  const events = store.events;
  // Fill with alarms only, which eviction keeps to the very end, and no predictions to evict.
  const writer = new OutboxWriter({ outbox: store.outbox, events, log, batchSize: 20, lingerMs: 0 });
  t.after(() => writer.stop());
  const pages = store.database.pragma('page_count', { simple: true }) as number;
  store.database.pragma(`max_page_count = ${pages + 2}`);
  const failed = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => writer.add(prediction(i))));
  assert.ok(failed.some((r) => r.status === 'rejected'), 'the page cap was hit');
  const alarm = events.list({ kind: 'store_full_alarm' });
  assert.equal(alarm.length, 1, 'one alarm per episode');
  assert.match(alarm[0]!.message, /the store is full/);
  assert.equal(writer.storeFull, true);
  await Promise.allSettled(Array.from({ length: 40 }, (_, i) => writer.add(prediction(100 + i))));
  assert.equal(events.list({ kind: 'store_full_alarm' }).length, 1, 'still one alarm, not one per failed write');

  store.database.pragma('max_page_count = 1073741823');
  const seq = await writer.add(prediction(999));
  assert.ok(seq > 0);
  assert.equal(writer.storeFull, false);
  assert.equal(events.list({ kind: 'store_recovered' }).length, 1, 'recovery is reported');
});

test('captured samples have their own quota: oldest evicted first, counted, too-large refused', async (t) => {
  const { store } = await openStore(t, 8 * MiB, 100_000);
  const samples = store.samples!;
  const ids: number[] = [];
  for (let i = 0; i < 10; i++) ids.push(samples.add({ source: 'cam-1', frameId: `f${i}`, mediaType: 'image/jpeg', data: Buffer.alloc(30_000, i) })!);
  assert.ok(samples.usedBytes() <= 100_000);
  assert.equal(samples.evicted, 7);
  const left = store.database.prepare<[], number>('SELECT id FROM samples ORDER BY id').pluck().all();
  assert.deepEqual(left, ids.slice(-3), 'the newest three stay');
  assert.equal(samples.add({ source: 'cam-1', frameId: 'huge', mediaType: 'image/jpeg', data: Buffer.alloc(200_000) }), undefined);
  assert.equal(store.events.list({ kind: 'sample_refused' }).length, 1);
  assert.ok(store.events.list({ kind: 'store_evicted' }).some((e) => e.detail?.class === 'samples'));
});

test('a captured sample is written without an fsync of its own; prediction commits stay fully synced, and the byte count stays true', async (t) => {
  const { store } = await openStore(t, 8 * MiB, 100_000);
  const samples = store.samples!;
  const db = store.database;
  const synced = () => db.pragma('synchronous', { simple: true });
  assert.equal(synced(), 2, 'FULL before');
  for (let i = 0; i < 6; i++) samples.add({ source: 'cam-1', frameId: `f${i}`, mediaType: 'image/jpeg', data: Buffer.alloc(30_000 + i, i) });
  assert.equal(synced(), 2, 'FULL again after the samples, for the next prediction commit');
  const sum = () => db.prepare<[], number>('SELECT coalesce(sum(bytes), 0) FROM samples').pluck().get();
  assert.equal(samples.usedBytes(), sum());
  // Inside a caller's transaction (which carries the sample) the level is left alone.
  db.transaction(() => samples.add({ source: 'cam-1', frameId: 'in-tx', mediaType: 'image/jpeg', data: Buffer.alloc(40_000) }))();
  assert.equal(synced(), 2);
  assert.equal(samples.usedBytes(), sum());
  assert.ok(samples.usedBytes() <= 100_000);
});
