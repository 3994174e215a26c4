import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { MIGRATIONS, openDatabase, schemaVersion, type SqliteDatabase } from '../../agent/buffer/database.js';
import { EventLog } from '../../agent/buffer/events.js';
import { Outbox, type NewPrediction } from '../../agent/buffer/outbox.js';
import { OutboxWriter, type OutboxCommit } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { AgentError } from '../../agent/errors.js';
import type { AgentEvent } from '../../agent/events.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

function prediction(i: number, extra: Partial<NewPrediction> = {}): NewPrediction {
  return {
    ts: 1_700_000_000_000 + i,
    source: 'cam-1',
    frameId: `f-${i}`,
    model: 'pcb-aoi',
    modelVersion: '1.0.0',
    label: i % 2 ? 'ok' : 'scratch',
    score: 0.9,
    topK: [{ label: 'ok', score: 0.9 }],
    latencyMs: 3.5,
    ...extra,
  };
}

async function open(t: CleanupHost, name = 'agent.db'): Promise<{ db: SqliteDatabase; path: string }> {
  const path = join(await tempDir(t), 'nested', 'dir', name);
  const db = openDatabase({ path, busyTimeoutMs: 1234 });
  t.after(() => db.open && db.close());
  return { db, path };
}

class MemoryEvents {
  readonly events: AgentEvent[] = [];
  record(e: AgentEvent): void {
    this.events.push(e);
  }
}

test('the store opens with WAL, synchronous FULL, foreign keys, busy timeout, a 2 MiB page cache and the latest schema', async (t) => {
  const { db } = await open(t);
  // Not better-sqlite3's 16 MiB, which RSS would grow into as the file grows.
  assert.equal(db.pragma('cache_size', { simple: true }), -2048);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 2); // FULL
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(db.pragma('busy_timeout', { simple: true }), 1234);
  assert.equal(schemaVersion(db), MIGRATIONS.length);
});

test('a file written by a newer schema is refused with E_STORE_SCHEMA', async (t) => {
  const { db, path } = await open(t);
  db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  db.close();
  assert.throws(() => openDatabase({ path, busyTimeoutMs: 0 }), (err: unknown) => err instanceof AgentError && err.code === 'E_STORE_SCHEMA');
});

test('sequence numbers increase across reopen and are never reused after deletes', async (t) => {
  const { db, path } = await open(t);
  const outbox = new Outbox(db);
  assert.deepEqual(outbox.append([prediction(1), prediction(2), prediction(3)]), [1, 2, 3]);
  outbox.markSent(1, 3, 10);
  assert.equal(outbox.pruneSent(11), 3);
  assert.equal(outbox.totalCount(), 0);
  db.close();

  const again = openDatabase({ path, busyTimeoutMs: 0 });
  t.after(() => again.close());
  const reopened = new Outbox(again);
  assert.deepEqual(reopened.append([prediction(4)]), [4]);
  assert.deepEqual(reopened.append([prediction(5), prediction(6)]), [5, 6]);
  assert.deepEqual(reopened.nextBatch(10, 1e6).map((r) => r.seq), [4, 5, 6]);
});

test('nextBatch returns the oldest unsent rows, bounded by count and bytes, as full records', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  outbox.append(Array.from({ length: 10 }, (_, i) => prediction(i + 1)));
  const first = outbox.nextBatch(4, 1e6);
  assert.deepEqual(first.map((r) => r.seq), [1, 2, 3, 4]);
  assert.deepEqual(first[0], { ...prediction(1), seq: 1 });

  // Each record costs its JSON plus one separator; the estimate must match the real size.
  const sizes = outbox.nextBatch(10, 1e6).map((r) => Buffer.byteLength(JSON.stringify(r)) + 1);
  const upTo = (n: number) => sizes.slice(0, n).reduce((a, b) => a + b, 0);
  assert.equal(outbox.nextBatch(10, upTo(3)).length, 3, 'three records fit exactly');
  assert.equal(outbox.nextBatch(10, upTo(3) - 1).length, 2);
  assert.equal(outbox.nextBatch(10, upTo(7)).length, 7);
  assert.equal(outbox.nextBatch(10, 1).length, 1, 'the first row always goes, so one big row cannot wedge the outbox');
});

test('a caller-supplied seq is ignored: the outbox alone numbers rows', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  const withSeq = { ...prediction(1), seq: 999 } as NewPrediction;
  assert.deepEqual(outbox.append([withSeq]), [1]);
  assert.equal(outbox.nextBatch(1, 1e6)[0]?.seq, 1);
});

test('markSent moves a range out of the pending set; counts and oldest pending follow', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  assert.equal(outbox.oldestPendingTs(), undefined);
  outbox.append(Array.from({ length: 6 }, (_, i) => prediction(i + 1)));
  assert.equal(outbox.pendingCount(), 6);
  assert.equal(outbox.oldestPendingTs(), prediction(1).ts);
  assert.equal(outbox.markSent(1, 4, 42), 4);
  assert.equal(outbox.markSent(1, 4, 43), 0, 'marking twice changes nothing');
  assert.equal(outbox.pendingCount(), 2);
  assert.equal(outbox.sentCount(), 4);
  assert.equal(outbox.totalCount(), 6);
  assert.equal(outbox.oldestPendingTs(), prediction(5).ts);
  assert.ok(outbox.pendingAtLeast(2));
  assert.ok(!outbox.pendingAtLeast(3));
  assert.deepEqual(outbox.nextBatch(10, 1e6).map((r) => r.seq), [5, 6]);
  assert.equal(outbox.pruneSent(42), 0, 'only rows acknowledged before the cut-off go');
  assert.equal(outbox.pruneSent(43), 4);
});

test('the event log keeps events newest first, filters by kind, and never throws', async (t) => {
  const { db } = await open(t);
  const events = new EventLog({ db, log, clock: { now: () => 5, monotonic: () => 0 } });
  events.record({ level: 'info', kind: 'broker_connected', source: 'sync', message: 'up', detail: { url: 'x' } });
  events.record({ level: 'warn', kind: 'broker_disconnected', message: 'down' });
  events.record({ level: 'info', kind: 'broker_connected', message: 'up again' });
  assert.deepEqual(events.list().map((e) => e.message), ['up again', 'down', 'up']);
  assert.deepEqual(events.list({ kind: 'broker_connected', limit: 1 }).map((e) => e.message), ['up again']);
  assert.deepEqual(events.list({ kind: 'broker_connected' })[1], { id: 1, ts: 5, level: 'info', kind: 'broker_connected', source: 'sync', message: 'up', detail: { url: 'x' } });
  db.close();
  assert.doesNotThrow(() => events.record({ level: 'error', kind: 'late', message: 'store already closed' }));
});

test('the writer commits a full batch at once, without waiting for the linger', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  const commits: OutboxCommit[] = [];
  const writer = new OutboxWriter({ outbox, events: new MemoryEvents(), log, batchSize: 5, lingerMs: 60_000, onCommit: (c) => commits.push(c) });
  t.after(() => writer.stop());
  const seqs = await Promise.all(Array.from({ length: 5 }, (_, i) => writer.add(prediction(i))));
  assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
  assert.deepEqual(commits, [{ first: 1, last: 5, count: 5 }]);
  assert.equal(outbox.pendingCount(), 5);
});

test('the writer commits at once when idle, then at most once per linger', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  const commits: OutboxCommit[] = [];
  const writer = new OutboxWriter({ outbox, events: new MemoryEvents(), log, batchSize: 100, lingerMs: 60, onCommit: (c) => commits.push(c) });
  t.after(() => writer.stop());
  const t0 = performance.now();
  const first = [writer.add(prediction(1)), writer.add(prediction(2))];
  assert.equal(outbox.pendingCount(), 0, 'records of one tick are gathered, not committed one by one');
  assert.deepEqual(await Promise.all(first), [1, 2]);
  assert.ok(performance.now() - t0 < 40, 'an idle writer does not wait for the linger');
  const t1 = performance.now();
  const second = [writer.add(prediction(3)), writer.add(prediction(4)), writer.add(prediction(5))];
  assert.equal(writer.queued, 3);
  assert.deepEqual(await Promise.all(second), [3, 4, 5]);
  assert.ok(performance.now() - t0 >= 55, `the next commit waited for the linger since the last (${performance.now() - t1} ms)`);
  assert.deepEqual(commits, [{ first: 1, last: 2, count: 2 }, { first: 3, last: 5, count: 3 }]);
});

test('stop commits the queued tail, then refuses new records', async (t) => {
  const outbox = new Outbox((await open(t)).db);
  const writer = new OutboxWriter({ outbox, events: new MemoryEvents(), log, batchSize: 2, lingerMs: 60_000 });
  const pending = [1, 2, 3, 4, 5].map((i) => writer.add(prediction(i)));
  assert.equal(outbox.pendingCount(), 4, 'two full batches went at once');
  await writer.stop();
  await writer.stop();
  assert.deepEqual(await Promise.all(pending), [1, 2, 3, 4, 5]);
  assert.equal(outbox.pendingCount(), 5);
  await assert.rejects(writer.add(prediction(6)), (err: unknown) => err instanceof AgentError && err.code === 'E_STORE_CLOSED');
});

test('a full disk rejects the batch with a retryable E_STORE_WRITE, records an event, and recovers', async (t) => {
  const { db } = await open(t);
  const outbox = new Outbox(db);
  const events = new MemoryEvents();
  const writer = new OutboxWriter({ outbox, events, log, batchSize: 50, lingerMs: 1 });
  t.after(() => writer.stop());
  await writer.add(prediction(0));
  const pages = db.pragma('page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const big = 'x'.repeat(8192);
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => writer.add(prediction(i, { frameId: big }))));
  assert.ok(results.every((r) => r.status === 'rejected'), 'the whole transaction failed');
  const reason = (results[0] as PromiseRejectedResult).reason as AgentError;
  assert.equal(reason.code, 'E_STORE_WRITE');
  assert.equal(reason.retryable, true);
  assert.equal(events.events[0]?.kind, 'store_write_failed');
  assert.equal(outbox.totalCount(), 1, 'nothing half-written');

  db.pragma('max_page_count = 1073741823');
  assert.equal(await writer.add(prediction(99)), 2, 'space came back, writing resumes');
});

test('Store opens, exposes outbox and events, checkpoints and closes; stop is safe twice and without start', async (t) => {
  const dir = await tempDir(t);
  const store = new Store({ config: { path: join(dir, 'a', 'agent.db'), busyTimeoutMs: 100 }, log });
  await store.start(new AbortController().signal);
  store.outbox.append([prediction(1)]);
  store.events.record({ level: 'info', kind: 'test', message: 'hello' });
  await store.stop();
  await store.stop();
  assert.equal(store.database.open, false);

  const unstarted = new Store({ config: { path: join(dir, 'b.db'), busyTimeoutMs: 100 }, log });
  await unstarted.stop();
  const reopened = new Store({ config: { path: join(dir, 'a', 'agent.db'), busyTimeoutMs: 100 }, log });
  t.after(() => reopened.stop());
  assert.equal(reopened.outbox.pendingCount(), 1);
  assert.equal(reopened.events.list({ kind: 'test' }).length, 1);
});
