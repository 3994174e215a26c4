import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MERGE_SPAN_MS } from '../../agent/buffer/acked-runs.js';
import { MIGRATIONS, openDatabase, type SqliteDatabase } from '../../agent/buffer/database.js';
import { Evictor } from '../../agent/buffer/eviction.js';
import { Outbox, type NewPrediction } from '../../agent/buffer/outbox.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

function prediction(i: number): NewPrediction {
  return { ts: 1_700_000_000_000 + i, source: 'cam-1', frameId: `f-${i}`, model: 'm', modelVersion: '1.0.0', label: 'ok', score: 0.9, topK: [], latencyMs: 1 };
}

async function outboxWith(t: CleanupHost, rows: number): Promise<{ db: SqliteDatabase; outbox: Outbox }> {
  const db = openDatabase({ path: join(await tempDir(t), 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.open && db.close());
  const outbox = new Outbox(db);
  outbox.append(Array.from({ length: rows }, (_, i) => prediction(i + 1)));
  return { db, outbox };
}

const runs = (db: SqliteDatabase) => db.prepare('SELECT first, last FROM predictions_acked ORDER BY first').raw().all();
const unsentSeqs = (outbox: Outbox) => outbox.nextBatch(1000, 1e9).map((r) => r.seq);

test('acks out of order leave exactly the unacknowledged rows unsent, and adjacent runs merge', async (t) => {
  const { db, outbox } = await outboxWith(t, 20);
  outbox.markSentRanges([[11, 15], [1, 5]], 1000);
  assert.deepEqual(unsentSeqs(outbox), [6, 7, 8, 9, 10, 16, 17, 18, 19, 20]);
  assert.equal(outbox.pendingCount(), 10);
  assert.equal(outbox.oldestPendingTs(), prediction(6).ts);
  const between = outbox.encodedAfter(7, 17, 100, 1e9);
  assert.deepEqual([between?.count, between?.first, between?.last], [5, 8, 17], 'rows 8, 9, 10, 16 and 17');
  assert.equal(outbox.markSent(6, 10, 2000), 5, 'filling the gap');
  assert.deepEqual(runs(db), [[1, 15]], 'the gap filled joins both neighbours into one run');
  assert.equal(outbox.markSent(3, 17, 3000), 2, 'an overlapping span counts only the rows it adds');
  assert.deepEqual(runs(db), [[1, 17]]);
  assert.deepEqual(unsentSeqs(outbox), [18, 19, 20]);
  assert.equal(outbox.sentAt(4), 3000);
  assert.equal(outbox.sentAt(18), undefined);
});

test('a run stops growing once its first ack is older than the merge span, so sentAt stays close', async (t) => {
  const { db, outbox } = await outboxWith(t, 9);
  outbox.markSent(1, 3, 0);
  outbox.markSent(4, 6, MERGE_SPAN_MS - 1);
  outbox.markSent(7, 9, MERGE_SPAN_MS + 5);
  assert.deepEqual(runs(db), [[1, 6], [7, 9]]);
  assert.equal(outbox.sentAt(2), MERGE_SPAN_MS - 1);
  assert.equal(outbox.sentAt(8), MERGE_SPAN_MS + 5);
  assert.equal(outbox.pendingCount(), 0);
  assert.equal(outbox.oldestPendingTs(), undefined);
  assert.equal(outbox.pruneSent(MERGE_SPAN_MS), 6, 'the older run goes whole');
  assert.equal(outbox.totalCount(), 3);
});

test('another connection sees the same unsent rows; its acks count for this one', async (t) => {
  const { db, outbox } = await outboxWith(t, 10);
  assert.equal(outbox.pendingCount(), 10);
  const other = openDatabase({ path: db.name, busyTimeoutMs: 1000 });
  t.after(() => other.close());
  const thread = new Outbox(other);
  thread.markSentRanges([[1, 7]], 5);
  assert.equal(outbox.pendingCount(), 3);
  assert.deepEqual(unsentSeqs(outbox), [8, 9, 10]);
  outbox.append([prediction(11)]);
  assert.deepEqual(unsentSeqs(thread), [8, 9, 10, 11], 'rows committed after the floor rose are still found');
});

test('eviction takes acknowledged runs oldest first, forgetting emptied runs, then unsent rows between runs', async (t) => {
  const { db, outbox } = await outboxWith(t, 30);
  outbox.markSent(1, 5, 1);
  outbox.markSent(11, 15, 2 * MERGE_SPAN_MS);
  const evictor = new Evictor(db);
  assert.deepEqual(evictor.evict('sent', 7), { count: 7, first: 1, last: 12 });
  assert.deepEqual(runs(db), [[11, 15]]);
  assert.deepEqual(evictor.evict('sent', 7), { count: 3, first: 13, last: 15 });
  assert.deepEqual(runs(db), []);
  assert.equal(evictor.evict('sent', 7), undefined);
  outbox.markSent(20, 25, 3);
  assert.deepEqual(evictor.evict('plain', 9), { count: 9, first: 6, last: 19 }, 'unsent rows only, oldest first');
  assert.deepEqual(unsentSeqs(outbox), [26, 27, 28, 29, 30]);
});

test('the migration turns sent_at marks into runs and drops the column and its index', async (t) => {
  const path = join(await tempDir(t), 'old.db');
  const before = MIGRATIONS.length - 1;
  const old = openDatabase({ path, busyTimeoutMs: 1000, migrations: MIGRATIONS.slice(0, before) });
  const insert = old.prepare("INSERT INTO predictions (ts, source, model, model_version, label, score, payload, sent_at) VALUES (?, 'c', 'm', '1', 'ok', 0.9, '{}', ?)");
  const sentAt = [10, 10, null, 20, 21, null, null, 30];
  sentAt.forEach((at, i) => insert.run(i, at));
  old.close();

  const db = openDatabase({ path, busyTimeoutMs: 1000 });
  t.after(() => db.close());
  assert.deepEqual(runs(db), [[1, 2], [4, 5], [8, 8]]);
  const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('predictions');
  assert.ok(!columns.includes('sent_at'), 'no second record of what was acknowledged');
  const outbox = new Outbox(db);
  assert.deepEqual(unsentSeqs(outbox), [3, 6, 7]);
  assert.equal(outbox.sentAt(5), 21);
});
