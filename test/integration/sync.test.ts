import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { NewPrediction } from '../../agent/buffer/outbox.js';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { BrokerSchema } from '../../agent/config/schema.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { Ingest } from '../../central/ingest.js';
import { batchIdOf, MAX_BATCH_BYTES, type PredictionBatch } from '../../protocol/predictions.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics } from '../../protocol/topics.js';
import { startBroker, startGate } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const TEST_TIMEOUT = { timeout: 40_000 };

function prediction(i: number): NewPrediction {
  return { ts: 1_700_000_000_000 + i, source: 'cam-1', frameId: `f-${i}`, model: 'pcb-aoi', modelVersion: '1.0.0', label: 'ok', score: 0.97, topK: [{ label: 'ok', score: 0.97 }], latencyMs: 4 };
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Everything a test started, torn down in reverse order whatever happened. */
async function setup(t: TestContext, brokerOpts: { persistence?: boolean } = {}) {
  const teardown: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const step of teardown.reverse()) await step().catch((err: unknown) => console.error('teardown:', err));
  });
  const dir = await tempDir({ after: (fn) => teardown.unshift(async () => fn()) });
  const broker = await startBroker(brokerOpts);
  teardown.push(() => broker.stop());

  const startAgent = async (deviceId: string, opts: { url?: string; connect?: (url: string, o: IClientOptions) => MqttClient; maxCount?: number } = {}) => {
    const store = new Store({ config: { path: join(dir, `${deviceId}.db`), busyTimeoutMs: 1000 }, log });
    const config = BrokerSchema.parse({
      url: opts.url ?? broker.url,
      protocolVersion: broker.protocolVersion,
      keepaliveS: 5,
      batch: { maxCount: opts.maxCount ?? 50, backlogMaxCount: opts.maxCount ?? 50, lingerMs: 20 },
      reconnect: { minMs: 100, maxMs: 400 },
    });
    const sync = new MqttSync({ deviceId, site: 'plant-7', agentVersion: '0.1.0-test', config, outbox: store.outbox, events: store.events, log, ...(opts.connect ? { connect: opts.connect } : {}) });
    const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 32, lingerMs: 5, onCommit: () => sync.wake() });
    const run = new AbortController();
    await store.start(run.signal);
    await sync.start(run.signal);
    await writer.start(run.signal);
    // The supervisor's order: upstream first, the store last.
    teardown.push(async () => {
      run.abort();
      await writer.stop();
      await sync.stop({ deadlineMs: 2000 });
      await store.stop();
    });
    return { store, sync, writer };
  };

  const startIngest = async () => {
    const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central', 'ingest.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
    teardown.push(() => ingest.stop());
    await ingest.start(AbortSignal.timeout(10_000));
    return ingest;
  };

  const rawClient = async (url = broker.url) => {
    const client = connect(url, { protocolVersion: broker.protocolVersion, clientId: `raw-${randomUUID()}`, reconnectPeriod: 0 });
    teardown.push(() => client.endAsync(true));
    await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
    return client;
  };

  return { dir, broker, teardown, startAgent, startIngest, rawClient };
}

function batchOf(device: string, first: number, count: number): PredictionBatch {
  const predictions = Array.from({ length: count }, (_, i) => ({ ...prediction(first + i), seq: first + i }));
  const last = first + count - 1;
  return { v: 1, batchId: batchIdOf(device, first, last), device, first, last, sentAt: Date.now(), predictions };
}

test('every committed prediction reaches ingest exactly once, in batches', TEST_TIMEOUT, async (t) => {
  const { startAgent, startIngest } = await setup(t);
  const ingest = await startIngest();
  const { store, writer, sync } = await startAgent('gw-1');
  await waitFor('the sync to connect', () => sync.connected);

  const seqs = await Promise.all(Array.from({ length: 500 }, (_, i) => writer.add(prediction(i))));
  assert.deepEqual(seqs, Array.from({ length: 500 }, (_, i) => i + 1));
  await waitFor('500 predictions at ingest', () => ingest.countFor('gw-1') === 500 && store.outbox.pendingCount() === 0);

  const span = ingest.database.prepare('SELECT count(DISTINCT seq) AS n, min(seq) AS lo, max(seq) AS hi FROM predictions WHERE device = ?').get('gw-1');
  assert.deepEqual(span, { n: 500, lo: 1, hi: 500 });
  assert.equal(ingest.stats.duplicates, 0);
  const batches = ingest.database.prepare<[], { n: number }>('SELECT count(*) AS n FROM batches').get()?.n ?? 0;
  assert.ok(batches >= 10 && batches < 500, `rows travel in batches of at most 50 (got ${batches} batches)`);
  assert.equal(sync.stats.predictionsAcked, 500);
});

test('rows are marked sent only once the PUBACK arrives', TEST_TIMEOUT, async (t) => {
  const { broker, teardown, startAgent, startIngest } = await setup(t);
  const gate = await startGate(broker.port);
  teardown.push(() => gate.close());
  const ingest = await startIngest();
  const { store, sync } = await startAgent('gw-ack', { url: gate.url });
  await waitFor('the sync to connect', () => sync.connected);

  gate.hold();
  store.outbox.append(Array.from({ length: 10 }, (_, i) => prediction(i)));
  sync.wake();
  await waitFor('the batch to reach ingest through the broker', () => ingest.countFor('gw-ack') === 10);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(store.outbox.pendingCount(), 10, 'delivered, but not acknowledged to the agent: still pending');

  gate.release();
  await waitFor('the ack to mark the rows sent', () => store.outbox.pendingCount() === 0);
  assert.equal(ingest.countFor('gw-ack'), 10);
});

test('a broker outage keeps rows unsent; after a restart on the same port everything arrives once', TEST_TIMEOUT, async (t) => {
  const { broker, startAgent, startIngest } = await setup(t, { persistence: true });
  const ingest = await startIngest();
  let attempts = 0;
  const counting = (url: string, o: IClientOptions) => {
    attempts++;
    return connect(url, o);
  };
  const { store, writer, sync } = await startAgent('gw-out', { connect: counting });
  await waitFor('the sync to connect', () => sync.connected);
  await Promise.all(Array.from({ length: 100 }, (_, i) => writer.add(prediction(i))));
  await waitFor('the first 100', () => ingest.countFor('gw-out') === 100 && store.outbox.pendingCount() === 0);

  await broker.stop();
  await waitFor('the sync to notice', () => !sync.connected);
  const before = attempts;
  await Promise.all(Array.from({ length: 100 }, (_, i) => writer.add(prediction(100 + i))));
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal(store.outbox.pendingCount(), 100, 'nothing is marked sent while the broker is away');
  assert.ok(attempts - before >= 2, `the sync kept retrying (${attempts - before} attempts)`);
  assert.ok(attempts - before <= 13, `with backoff, not in a tight loop (${attempts - before} attempts)`);

  await broker.restart?.();
  await waitFor('the backlog to drain', () => store.outbox.pendingCount() === 0, 15_000);
  await waitFor('all 200 at ingest', () => ingest.countFor('gw-out') === 200, 15_000);
  const span = ingest.database.prepare('SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM predictions WHERE device = ?').get('gw-out');
  assert.deepEqual(span, { n: 200, lo: 1, hi: 200 });
  assert.equal(store.events.list({ kind: 'broker_connected' }).length, 2, 'one event per state change, not per retry');
  assert.equal(store.events.list({ kind: 'broker_disconnected' }).length, 1);
});

test('a flapping network loses nothing and duplicates nothing at central', TEST_TIMEOUT, async (t) => {
  const { broker, teardown, startAgent, startIngest } = await setup(t);
  const gate = await startGate(broker.port);
  teardown.push(() => gate.close());
  const ingest = await startIngest();
  const { store, writer, sync } = await startAgent('gw-flap', { url: gate.url, maxCount: 20 });
  await waitFor('the sync to connect', () => sync.connected);

  const flapping = setInterval(() => gate.cut(), 150);
  teardown.push(async () => clearInterval(flapping));
  const writes: Promise<number>[] = [];
  for (let i = 0; i < 30; i++) {
    for (let j = 0; j < 20; j++) writes.push(writer.add(prediction(i * 20 + j)));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await Promise.all(writes);
  clearInterval(flapping);

  await waitFor('the backlog to drain once the network settles', () => store.outbox.pendingCount() === 0, 20_000);
  await waitFor('all 600 at ingest', () => ingest.countFor('gw-flap') === 600);
  const span = ingest.database.prepare('SELECT count(*) AS n, count(DISTINCT seq) AS d, max(seq) AS hi FROM predictions WHERE device = ?').get('gw-flap');
  assert.deepEqual(span, { n: 600, d: 600, hi: 600 });
  assert.ok(store.events.list({ kind: 'broker_disconnected' }).length >= 2, 'the links really were cut');
});

test('a redelivered batch is stored once', TEST_TIMEOUT, async (t) => {
  const { startIngest, rawClient } = await setup(t);
  const ingest = await startIngest();
  const client = await rawClient();
  const batch = batchOf('gw-dup', 1, 3);
  const topic = deviceTopics(DEFAULT_TOPIC_PREFIX, 'gw-dup').predictions;
  await client.publishAsync(topic, JSON.stringify(batch), { qos: 1 });
  await client.publishAsync(topic, JSON.stringify({ ...batch, sentAt: batch.sentAt + 1000 }), { qos: 1 });
  await waitFor('both copies to be handled', () => ingest.stats.batches === 2);
  assert.equal(ingest.countFor('gw-dup'), 3);
  assert.equal(ingest.stats.received, 3);
  assert.equal(ingest.stats.duplicates, 3);
  const row = ingest.database.prepare('SELECT device, first, last, duplicates FROM batches WHERE batch_id = ?').get(batch.batchId);
  assert.deepEqual(row, { device: 'gw-dup', first: 1, last: 3, duplicates: 1 });
});

test('garbage on the predictions topic is refused and counted; valid data after it still lands', TEST_TIMEOUT, async (t) => {
  const { startIngest, rawClient } = await setup(t);
  const ingest = await startIngest();
  const client = await rawClient();
  const topics = deviceTopics(DEFAULT_TOPIC_PREFIX, 'gw-bad');
  const wrongId = { ...batchOf('gw-bad', 1, 2), batchId: 'gw-bad:7-8' };
  const garbage: (string | Buffer)[] = [
    'not json {',
    JSON.stringify({ v: 1, hello: 'world' }),
    Buffer.alloc(MAX_BATCH_BYTES + 1, 0x20),
    JSON.stringify(wrongId),
    JSON.stringify(batchOf('someone-else', 1, 2)),
  ];
  for (const payload of garbage) await client.publishAsync(topics.predictions, payload, { qos: 1 });
  await client.publishAsync(topics.status, '{"state":"dancing"}', { qos: 1 });
  await client.publishAsync(topics.predictions, JSON.stringify(batchOf('gw-bad', 1, 4)), { qos: 1 });
  await waitFor('the valid batch', () => ingest.countFor('gw-bad') === 4);
  assert.equal(ingest.stats.refused, 6);
  assert.equal(ingest.countFor('someone-else'), 0);
  assert.equal(ingest.count(), 4);
});

test('status is retained: online on connect, offline by last will when killed, offline on a clean stop', TEST_TIMEOUT, async (t) => {
  const { startAgent, startIngest, rawClient } = await setup(t);
  const ingest = await startIngest();
  const statusTopic = deviceTopics(DEFAULT_TOPIC_PREFIX, 'gw-will').status;
  const observer = await rawClient();
  const seen: string[] = [];
  observer.on('message', (_topic, payload) => seen.push((JSON.parse(payload.toString()) as { state: string }).state));
  await observer.subscribeAsync(statusTopic, { qos: 1 });

  const clients: MqttClient[] = [];
  const capture = (url: string, o: IClientOptions) => {
    const c = connect(url, o);
    clients.push(c);
    return c;
  };
  const { sync, store } = await startAgent('gw-will', { connect: capture });
  await waitFor('online', () => seen.includes('online'));

  // Kill the connection without DISCONNECT: the broker must publish the will.
  clients.at(-1)?.stream.destroy();
  await waitFor('the will (offline), then online again after the reconnect', () => seen.join(',') === 'online,offline,online');
  await waitFor('ingest to see the device online', () => ingest.device('gw-will')?.state === 'online');
  assert.equal(store.events.list({ kind: 'broker_disconnected' }).length, 1);

  await sync.stop({ deadlineMs: 2000 });
  await sync.stop();
  assert.equal(sync.connected, false);
  await waitFor('offline after a clean stop', () => seen.at(-1) === 'offline');

  const late = await rawClient();
  const retained = new Promise<{ state: string; retain: boolean }>((resolve) =>
    late.once('message', (_topic, payload, packet) => resolve({ state: (JSON.parse(payload.toString()) as { state: string }).state, retain: packet.retain })),
  );
  await late.subscribeAsync(statusTopic, { qos: 1 });
  assert.deepEqual(await retained, { state: 'offline', retain: true });
  await waitFor('ingest to see the device offline', () => ingest.device('gw-will')?.state === 'offline');
  assert.equal(ingest.device('gw-will')?.site, 'plant-7');
});

test('stop flushes what is pending while connected, then is safe to call again', TEST_TIMEOUT, async (t) => {
  const { startAgent, startIngest } = await setup(t);
  const ingest = await startIngest();
  const { store, sync } = await startAgent('gw-flush', { maxCount: 10 });
  await waitFor('the sync to connect', () => sync.connected);
  store.outbox.append(Array.from({ length: 95 }, (_, i) => prediction(i)));
  // No wake: the stop itself must push the rows out.
  await sync.stop({ deadlineMs: 5000 });
  assert.equal(store.outbox.pendingCount(), 0);
  await waitFor('all 95 at ingest', () => ingest.countFor('gw-flush') === 95);
});

test('stop without start, and a sync started against nothing, stop quickly', TEST_TIMEOUT, async (t) => {
  const { dir, startAgent } = await setup(t);
  const store = new Store({ config: { path: join(dir, 'never.db'), busyTimeoutMs: 100 }, log });
  t.after(() => store.stop());
  const config = BrokerSchema.parse({ url: 'mqtt://127.0.0.1:1' });
  const never = new MqttSync({ deviceId: 'gw-never', site: 's', agentVersion: 'v', config, outbox: store.outbox, events: store.events, log });
  await never.stop();
  await never.stop();

  const { sync } = await startAgent('gw-nothing', { url: 'mqtt://127.0.0.1:1' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(sync.connected, false);
  const t0 = performance.now();
  await sync.stop({ deadlineMs: 2000 });
  assert.ok(performance.now() - t0 < 1000, 'nothing to flush without a connection');
});
