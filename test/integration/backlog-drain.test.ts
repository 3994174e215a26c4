import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { BrokerSchema } from '../../agent/config/schema.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import type { PredictionBatch } from '../../protocol/predictions.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { prediction } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const BACKLOG = 12_000;
const LIVE = 300;

test('a large backlog drains: live rows first, every row once after de-duplication, each stream in order, a cut mid-drain resends the same batches', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  const device = 'gw-drain';

  // Central: every batch as it arrives, in arrival order.
  const central = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `central-${randomUUID()}` });
  host.after(() => central.endAsync(true));
  const arrived: PredictionBatch[] = [];
  central.on('message', (_topic, payload) => arrived.push(JSON.parse(gunzipSync(payload).toString('utf8')) as PredictionBatch));
  await central.subscribeAsync(deviceTopics(DEFAULT_TOPIC_PREFIX, device).predictions, { qos: 1 });

  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 1000 }, log: pino({ level: 'silent' }) });
  host.after(() => store.stop());
  // Committed during the outage: the backlog the next session finds.
  for (let i = 0; i < BACKLOG; i += 1000) store.outbox.append(Array.from({ length: 1000 }, (_, k) => prediction(i + k)));

  const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const config = BrokerSchema.parse({
    url: broker.url,
    protocolVersion: broker.protocolVersion,
    keepaliveS: 5,
    reconnect: { minMs: 100, maxMs: 300 },
    batch: { maxCount: 50, backlogMaxCount: 500, lingerMs: 5 },
    // Slow enough that live rows are written while the backlog still drains.
    backlogRatePerS: 10_000,
  });
  const clients: MqttClient[] = [];
  const capture = (url: string, o: IClientOptions) => {
    const c = connect(url, o);
    clients.push(c);
    return c;
  };
  const sync = new MqttSync({ deviceId: device, site: 'plant', agentVersion: 'test', config, outbox: store.outbox, events: store.events, log, connect: capture });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 16, lingerMs: 2, onCommit: () => sync.wake() });
  const run = new AbortController();
  host.after(async () => {
    run.abort();
    await writer.stop();
    await sync.stop({ deadlineMs: 2000 });
  });
  await writer.start(run.signal);
  await sync.start(run.signal);
  await waitFor('the backlog to start draining', () => sync.stats.backlogAcked > 0, 20_000);
  await Promise.all(Array.from({ length: LIVE }, (_, i) => writer.add(prediction(BACKLOG + i))));

  // Cut the link without a DISCONNECT while the backlog drains; the next session resends what was not acked.
  await waitFor('part of the backlog acknowledged', () => sync.stats.backlogAcked >= 3000, 20_000);
  clients.at(-1)!.stream.destroy();
  await waitFor('every row acknowledged', () => store.outbox.pendingCount() === 0, 40_000);
  await waitFor('every row at central', () => new Set(arrived.flatMap((b) => b.predictions.map((p) => p.seq))).size === BACKLOG + LIVE, 10_000);

  // Copies carry the same batch id and the same rows, so central's de-duplication drops them.
  const byId = new Map<string, string>();
  for (const b of arrived) {
    const rows = b.predictions.map((p) => p.seq).join(',');
    assert.equal(byId.get(b.batchId) ?? rows, rows, `batch ${b.batchId} resent with other rows`);
    byId.set(b.batchId, rows);
    assert.deepEqual(b.predictions.map((p) => p.seq), Array.from({ length: b.last - b.first + 1 }, (_, k) => b.first + k), `batch ${b.batchId} is consecutive`);
    assert.ok(b.predictions.every((p, k) => p.frameId === `f-${b.first + k - 1}`), 'each row is the one committed under its seq');
  }
  const owners = new Map<number, string[]>();
  for (const [id, r] of byId) for (const seq of r.split(',').map(Number)) owners.set(seq, [...(owners.get(seq) ?? []), id]);
  const shared = [...owners].filter(([, ids]) => ids.length > 1).slice(0, 3).map(([seq, ids]) => `${seq} in ${ids.join(' and ')}`);
  assert.deepEqual(shared, [], 'no row in two batches of different ids');
  const seqs = [...owners.keys()].sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: BACKLOG + LIVE }, (_, k) => k + 1), 'every row exactly once after de-duplication');

  // The backlog went oldest first: new (not resent) backlog batches arrive in sequence order.
  const firstSeen: PredictionBatch[] = [];
  const seen = new Set<string>();
  for (const b of arrived) if (!seen.has(b.batchId)) (seen.add(b.batchId), firstSeen.push(b));
  const backlogFirsts = firstSeen.filter((b) => b.last <= BACKLOG).map((b) => b.first);
  assert.deepEqual(backlogFirsts, [...backlogFirsts].sort((a, b) => a - b), 'the backlog in sequence order');
  // Live first: the first live row reached central before the backlog was through.
  const firstLive = arrived.findIndex((b) => b.first > BACKLOG);
  const lastBacklog = arrived.map((b) => b.last <= BACKLOG).lastIndexOf(true);
  assert.ok(firstLive >= 0 && firstLive < lastBacklog, `live rows wait for the backlog (first live at ${firstLive}, last backlog at ${lastBacklog})`);
  assert.ok(clients.length >= 2, 'the cut made a second session');
});
