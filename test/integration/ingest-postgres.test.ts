import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { Ingest } from '../../central/ingest.js';
import { batchIdOf } from '../../protocol/predictions.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics } from '../../protocol/topics.js';
import { telemetryTopic } from '../../protocol/telemetry.js';
import { startBroker } from '../helpers/broker.js';
import { runBin, BinProcess } from '../helpers/child.js';
import { pgSchema } from '../helpers/postgres.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

test('two ingest processes share the load over a shared subscription into PostgreSQL; every (device, seq) stored once', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const pg = await pgSchema(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  assert.equal(broker.protocolVersion, 5, 'shared subscriptions need MQTT 5 (Mosquitto)');

  const ingests = await Promise.all(
    ['a', 'b'].map(async (name) => {
      const ingest = new Ingest({ brokerUrl: broker.url, dbPath: pg.url, pgSchema: pg.schema, topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: 5, clientId: `central-${name}-${randomUUID()}`, shareGroup: 'central', log, reconnectMs: 100 });
      host.after(() => ingest.stop());
      await ingest.start(AbortSignal.timeout(10_000));
      return ingest;
    }),
  );

  const devices = await Promise.all(['line1', 'line2', 'line3'].map((id) => startSyncDevice(host, { deviceId: `pg-${id}`, dir, broker, brokerConfig: { batch: { maxCount: 20, lingerMs: 5 } } })));
  await waitFor('the devices to connect', () => devices.every((d) => d.sync.connected));
  await Promise.all(devices.map((d) => Promise.all(Array.from({ length: 400 }, (_, i) => d.writer.add(prediction(i))))));
  await waitFor('every outbox to be acknowledged', () => devices.every((d) => d.store.outbox.pendingCount() === 0), 20_000);

  // The same batch again, as after a lost PUBACK: stored once whichever process gets it.
  const raw = await connectAsync(broker.url, { protocolVersion: 5, clientId: `raw-${randomUUID()}` });
  host.after(() => raw.endAsync(true));
  const predictions = Array.from({ length: 5 }, (_, k) => ({ ...prediction(k), seq: k + 1 }));
  const again = { v: 1, batchId: batchIdOf('pg-line1', 1, 5), device: 'pg-line1', first: 1, last: 5, sentAt: Date.now(), predictions };
  for (let i = 0; i < 4; i++) await raw.publishAsync(deviceTopics(DEFAULT_TOPIC_PREFIX, 'pg-line1').predictions, gzipSync(JSON.stringify(again)), { qos: 1 });

  await waitFor('1200 predictions in PostgreSQL', async () => (await ingests[0]!.store.count('predictions')) === 1200, 20_000);
  await waitFor('the four redelivered copies to be handled', () => ingests[0]!.stats.duplicates + ingests[1]!.stats.duplicates >= 20, 10_000);
  const rows = await pg.query<{ device: string; n: string; d: string; hi: string }>('SELECT device, count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS hi FROM predictions GROUP BY device ORDER BY device');
  assert.deepEqual(rows.map((r) => [r.device, Number(r.n), Number(r.d), Number(r.hi)]), [
    ['pg-line1', 400, 400, 400],
    ['pg-line2', 400, 400, 400],
    ['pg-line3', 400, 400, 400],
  ]);
  const [a, b] = ingests.map((i) => i.stats.batches);
  t.diagnostic(`batches handled: ingest a ${a}, ingest b ${b}`);
  assert.ok(a! > 0 && b! > 0, `both ingest processes took a share (a ${a}, b ${b})`);
  assert.equal(ingests[0]!.stats.received + ingests[1]!.stats.received, 1200, 'each prediction counted new exactly once across both');
  const statuses = await pg.query<{ device: string; state: string }>('SELECT device, state FROM devices WHERE state IS NOT NULL ORDER BY device');
  assert.deepEqual(statuses.map((s) => s.state), ['online', 'online', 'online']);
});

test('edgectl ingest --db postgres:// stores predictions, events, health, drift windows, explanations and samples once each', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const pg = await pgSchema(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  const cli = new BinProcess('edgectl', ['ingest', '--broker', broker.url, '--db', pg.url, '--pg-schema', pg.schema, '--share', 'central', '--client-id', `cli-${randomUUID()}`, '--log-level', 'info']);
  host.after(() => cli.stop('SIGTERM'));
  await cli.waitForOutput('ingest subscribed', (p) => p.stdout.includes('ingest subscribed'), 20_000);

  const raw = await connectAsync(broker.url, { protocolVersion: 5, clientId: `raw-${randomUUID()}` });
  host.after(() => raw.endAsync(true));
  const device = 'pg-cli';
  const now = Date.now();
  const events = { v: 1, device, events: [{ id: 1, ts: now, level: 'warn', kind: 'store_evicted', message: 'evicted 3 unsent plain predictions', detail: { count: 3 } }, { id: 2, ts: now, level: 'info', kind: 'agent_started', message: 'started' }] };
  const health = { v: 1, device, ts: now, state: 'degraded', reason: 'broker disconnected', outboxPending: 12, oldestPendingAgeS: 4.5, storeBytes: 4096, storeQuotaBytes: 1 << 30, evictions: { plain: 3 } };
  const shapley = { features: ['vibration', 'temperature'], values: [0.25, -0.05], baseValue: 0.6, prediction: 0.8, output: 'worn', exact: true, coalitions: 4, backgroundRows: 20 };
  const explanations = { v: 1, device, explanations: [{ seq: 1, ts: now, model: 'bearing', method: 'shapley', values: shapley }] };
  const sample = { v: 1, device, id: 1, ts: now, source: 'cam-1', frameId: 'f-1', seq: 1, mediaType: 'image/jpeg', data: Buffer.from('jpeg bytes').toString('base64') };
  const windowStats = [{ subject: 'image.brightness', statistic: 'psi', value: 0.31, level: 'alarm' }, { subject: 'confidence.top1', statistic: 'ks', value: 0.04, level: 'ok' }];
  const drift = { v: 1, device, windows: [{ id: 1, model: 'defect', modelVersion: '1.0.0', startedAt: now - 1000, endedAt: now, samples: 200, level: 'alarm', stats: windowStats }] };
  const predictions = [{ ...prediction(1), seq: 1 }];
  const batch = { v: 1, batchId: batchIdOf(device, 1, 1), device, first: 1, last: 1, sentAt: now, predictions };
  for (let copy = 0; copy < 2; copy++) {
    await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'events'), JSON.stringify(events), { qos: 1 });
    await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'health'), JSON.stringify(health), { qos: 1 });
    await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'drift'), JSON.stringify(drift), { qos: 1 });
    await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'explanations'), gzipSync(JSON.stringify(explanations)), { qos: 1 });
    await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'samples'), JSON.stringify(sample), { qos: 1 });
    await raw.publishAsync(deviceTopics(DEFAULT_TOPIC_PREFIX, device).predictions, JSON.stringify(batch), { qos: 1 });
  }
  // And a refusal: a health report naming another device.
  await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'health'), JSON.stringify({ ...health, device: 'someone-else', ts: now + 1 }), { qos: 1 });
  // And a drift window that is not one: refused, naming where.
  await raw.publishAsync(telemetryTopic(DEFAULT_TOPIC_PREFIX, device, 'drift'), JSON.stringify({ v: 1, device, windows: [{ id: 0, model: 'defect' }] }), { qos: 1 });

  const count = async (table: string) => Number((await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE device = $1`, [device]))[0]?.n);
  await waitFor('every table filled', async () => (await count('predictions')) === 1 && (await count('samples')) === 1 && (await count('events')) === 2 && (await count('drift_windows')) === 1, 15_000);
  await waitFor('the refusal to be logged', () => cli.stdout.includes('someone-else'), 10_000);
  await waitFor('the drift refusal to be logged', () => cli.stdout.includes('refused a payload on edge/v1/pg-cli/drift'), 10_000);
  assert.match(cli.stdout, /refused a payload on edge\/v1\/pg-cli\/drift: [^\n]*windows/);
  assert.deepEqual(
    { predictions: await count('predictions'), events: await count('events'), health: await count('health'), drift: await count('drift_windows'), explanations: await count('explanations'), samples: await count('samples') },
    { predictions: 1, events: 2, health: 1, drift: 1, explanations: 1, samples: 1 },
  );
  const [stepRow] = await pg.query<{ step: string }>('SELECT step FROM predictions WHERE device = $1', [device]);
  assert.equal(stepRow!.step, 'model', 'the fail-safe step is kept with each prediction');
  const [w] = await pg.query<{ level: string; stats: unknown }>('SELECT level, stats FROM drift_windows WHERE device = $1', [device]);
  assert.deepEqual(w, { level: 'alarm', stats: windowStats });
  const [s] = await pg.query<{ data: Buffer }>('SELECT data FROM samples WHERE device = $1', [device]);
  assert.equal(s!.data.toString(), 'jpeg bytes');
  const [e] = await pg.query<{ values: unknown }>('SELECT "values" FROM explanations WHERE device = $1', [device]);
  assert.deepEqual(e!.values, shapley);
  assert.match(cli.stdout, /refused a payload on edge\/v1\/pg-cli\/health: health report of device \\"someone-else\\"/);
  assert.equal(await cli.stop('SIGTERM'), 0, cli.tail());

  const bad = await runBin('edgectl', ['ingest', '--broker', broker.url, '--db', 'postgres://nobody:secret@127.0.0.1:1/none', '--client-id', 'x']);
  assert.equal(bad.code, 1);
  assert.ok(!`${bad.stdout}${bad.stderr}`.includes('secret'), 'the database password is never printed');
});
