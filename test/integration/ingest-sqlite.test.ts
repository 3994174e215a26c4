import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { SqliteIngestStore } from '../../central/ingest/sqlite-store.js';
import { batchIdOf, MAX_BATCH_BYTES } from '../../protocol/predictions.js';
import { telemetryTopic } from '../../protocol/telemetry.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { BinProcess } from '../helpers/child.js';
import { prediction } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

test('edgectl ingest --db sqlite:FILE takes gzip batches, refuses a gzip bomb and garbage, and fills every table once', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  const file = join(dir, 'central.db');
  const cli = new BinProcess('edgectl', ['ingest', '--broker', broker.url, '--db', `sqlite:${file}`, '--mqtt-version', String(broker.protocolVersion), '--client-id', `cli-${randomUUID()}`]);
  host.after(() => cli.stop('SIGTERM'));
  await cli.waitForOutput('ingest subscribed', (p) => p.stdout.includes('ingest subscribed'), 20_000);

  const raw = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `raw-${randomUUID()}` });
  host.after(() => raw.endAsync(true));
  const device = 'sq-1';
  const topic = deviceTopics(DEFAULT_TOPIC_PREFIX, device).predictions;
  const predictions = Array.from({ length: 30 }, (_, k) => ({ ...prediction(k), seq: k + 1 }));
  const batch = { v: 1, batchId: batchIdOf(device, 1, 30), device, first: 1, last: 30, sentAt: Date.now(), predictions };
  // A bomb: 1 MB compressed that inflates far beyond the batch limit.
  const bomb = gzipSync(Buffer.alloc(MAX_BATCH_BYTES * 4, 0x20), { level: 9 });
  await raw.publishAsync(topic, bomb, { qos: 1 });
  await raw.publishAsync(topic, Buffer.from([0x1f, 0x8b, 1, 2, 3]), { qos: 1 });
  await raw.publishAsync(topic, gzipSync(JSON.stringify(batch)), { qos: 1 });
  await raw.publishAsync(topic, JSON.stringify(batch), { qos: 1 });
  await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'events'), JSON.stringify({ v: 1, device, events: [{ id: 7, ts: 1, level: 'error', kind: 'store_full_alarm', message: 'full' }] }), { qos: 1 });
  await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'explanations'), '{"v":1,"device":"sq-1","explanations":[]}', { qos: 1 });

  const db = new Database(file, { readonly: true });
  host.after(() => db.close());
  const n = (table: string) => db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? 0;
  await waitFor('the batch and the event', () => n('predictions') === 30 && n('events') === 1, 15_000);
  await waitFor('the refusals to be logged', () => (cli.stdout.match(/refused a payload/g) ?? []).length === 3, 10_000);
  assert.match(cli.stdout, /gzip payload inflates beyond the limit of 4194304 bytes/);
  assert.match(cli.stdout, /corrupt gzip payload/);
  assert.match(cli.stdout, /explanations: Too small/i);
  assert.equal(db.prepare('SELECT duplicates FROM batches').pluck().get(), 1, 'the plain copy of the gzip batch was a duplicate');
  assert.equal(await cli.stop('SIGTERM'), 0, cli.tail());
});

test('ingest keeps the fail-safe step of each prediction, also in a database made before steps existed', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t, 'ingest-steps-');
  const file = join(dir, 'central.db');
  // A database as an earlier ingest made it: predictions without step columns, samples without reason.
  const old = new Database(file);
  old.exec(`CREATE TABLE predictions (
    device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, frame_id TEXT NOT NULL,
    model TEXT NOT NULL, model_version TEXT NOT NULL, label TEXT NOT NULL, score REAL NOT NULL,
    top_k TEXT NOT NULL, latency_ms REAL NOT NULL, batch_id TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq)) WITHOUT ROWID;
    CREATE TABLE samples (
    device TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, frame_id TEXT NOT NULL,
    seq INTEGER, media_type TEXT NOT NULL, data BLOB NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, id)) WITHOUT ROWID;
    INSERT INTO predictions VALUES ('gw-old', 1, 1, 'cam1', 'f1', 'defect', '1.0.0', 'ok', 0.9, '[]', 3, 'gw-old:1-1', 1);`);
  old.close();
  const store = new SqliteIngestStore(file);
  t.after(() => store.close());
  const device = 'gw-steps';
  const predictions = [
    { ...prediction(1), seq: 1 },
    { ...prediction(2), seq: 2, step: 'rule' as const, fallbackReason: 'low-confidence' },
    { ...prediction(3), seq: 3, step: 'manual' as const, fallbackReason: 'timeout' },
  ];
  assert.equal(await store.storeBatch({ v: 1, batchId: batchIdOf(device, 1, 3), device, first: 1, last: 3, sentAt: Date.now(), predictions }, Date.now()), 3);
  const rows = store.db.prepare('SELECT device, seq, step, fallback_reason AS reason FROM predictions ORDER BY device, seq').all();
  assert.deepEqual(rows, [
    { device: 'gw-old', seq: 1, step: null, reason: null },
    { device, seq: 1, step: 'model', reason: null },
    { device, seq: 2, step: 'rule', reason: 'low-confidence' },
    { device, seq: 3, step: 'manual', reason: 'timeout' },
  ]);
  const columns = store.db.prepare("SELECT name FROM pragma_table_info('samples')").all() as Array<{ name: string }>;
  assert.ok(columns.some((c) => c.name === 'reason'), 'samples gained their reason column');
});
