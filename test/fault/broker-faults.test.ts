import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX, desiredStateTopic } from '../../protocol/topics.js';
import { startBroker, startGate } from '../helpers/broker.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

test('network flapping every 1–2 s (seeded), acks held before some cuts: nothing lost, copies carry the same batch id and are dropped at ingest', { timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  const gate = await startGate(broker.port);
  host.after(() => gate.close());
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  const device = await startSyncDevice(host, { deviceId: 'gw-flap', dir, broker: { url: gate.url, protocolVersion: broker.protocolVersion }, brokerConfig: { batch: { maxCount: 25, lingerMs: 5 }, reconnect: { minMs: 50, maxMs: 200 } } });
  await waitFor('the sync to connect', () => device.sync.connected);

  const random = mulberry32(4);
  let writing = true;
  let written = 0;
  const writes: Promise<number>[] = [];
  const producer = (async () => {
    while (writing) {
      for (let k = 0; k < 10; k++) writes.push(device.writer.add(prediction(written++)));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  let cuts = 0;
  const until = performance.now() + 9000;
  while (performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 1000 + random() * 1000));
    // Every other cut lands while PUBACKs are held: the broker has the batch, the agent never hears so.
    const held = cuts % 2 === 0;
    if (held) gate.hold();
    await new Promise((resolve) => setTimeout(resolve, 150));
    gate.cut();
    if (held) gate.release();
    cuts++;
  }
  writing = false;
  await producer;
  await Promise.all(writes);
  await waitFor('the outbox to drain', () => device.store.outbox.pendingCount() === 0, 30_000);
  await waitFor('every row at central', () => ingest.countFor('gw-flap') === written, 15_000);

  const rows = ingest.database.prepare<[], { n: number; d: number; lo: number; hi: number }>("SELECT count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, max(seq) AS hi FROM predictions WHERE device = 'gw-flap'").get();
  assert.deepEqual(rows, { n: written, d: written, lo: 1, hi: written }, 'every committed prediction, once');
  const redelivered = ingest.database.prepare<[], number>("SELECT count(*) FROM batches WHERE device = 'gw-flap' AND duplicates > 0").pluck().get() ?? 0;
  t.diagnostic(`${cuts} cuts, ${written} predictions, ${ingest.stats.duplicates} duplicate rows dropped, ${redelivered} batches redelivered under the same id`);
  assert.ok(device.store.events.list({ kind: 'broker_disconnected', limit: 100 }).length >= cuts - 1, 'the links really were cut');
  assert.ok(ingest.stats.duplicates > 0, 'copies did arrive (acks were held back) and were dropped');
  assert.ok(redelivered > 0, 'a resent batch carried the id of the first copy');
});

test('broker restarted without persistence: the agent resubscribes, re-reads the retained desired state, and resends what was never acknowledged', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker({ persistence: false });
  host.after(() => broker.stop());
  const gate = await startGate(broker.port);
  host.after(() => gate.close());
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  const device = await startSyncDevice(host, { deviceId: 'gw-amnesia', dir, broker: { url: gate.url, protocolVersion: broker.protocolVersion } });
  const desired = desiredStateTopic(DEFAULT_TOPIC_PREFIX, 'device', 'gw-amnesia');
  const heard: string[] = [];
  device.sync.subscribe(desired, (_topic, payload) => heard.push(payload.toString()));
  await waitFor('the sync to connect', () => device.sync.connected);

  const central = async () => {
    const c = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `central-${randomUUID()}` });
    return c;
  };
  let c = await central();
  await c.publishAsync(desired, '{"counter":1}', { qos: 1, retain: true });
  await c.endAsync();
  await waitFor('the retained desired state', () => heard.includes('{"counter":1}'));
  await Promise.all(Array.from({ length: 100 }, (_, i) => device.writer.add(prediction(i))));
  await waitFor('the first 100 acknowledged', () => device.store.outbox.pendingCount() === 0);
  await waitFor('the first 100 at central', () => ingest.countFor('gw-amnesia') === 100);

  // PUBACKs held: the next rows reach the broker, but the agent never learns it. Then the broker
  // restarts with an empty memory: sessions, subscriptions and retained messages are gone.
  gate.hold();
  await Promise.all(Array.from({ length: 50 }, (_, i) => device.writer.add(prediction(100 + i))));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(device.store.outbox.pendingCount(), 50, 'unacknowledged rows stay unsent');
  await broker.restart?.();
  gate.release();
  await waitFor('the agent back on the new broker', () => device.sync.connected, 15_000);
  await Promise.all(Array.from({ length: 50 }, (_, i) => device.writer.add(prediction(150 + i))));
  // Central republishes its retained state to the fresh broker; the agent hears it only if it subscribed again.
  c = await central();
  await c.publishAsync(desired, '{"counter":2}', { qos: 1, retain: true });
  await c.endAsync();
  await waitFor('the republished desired state', () => heard.includes('{"counter":2}'), 10_000);
  await waitFor('the outbox to drain', () => device.store.outbox.pendingCount() === 0, 15_000);
  await waitFor('all 200 at central, once', () => ingest.countFor('gw-amnesia') === 200, 15_000);
  const span = ingest.database.prepare("SELECT count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS hi FROM predictions WHERE device = 'gw-amnesia'").get();
  assert.deepEqual(span, { n: 200, d: 200, hi: 200 });
  t.diagnostic(`${ingest.stats.duplicates} duplicates dropped at central`);
});
