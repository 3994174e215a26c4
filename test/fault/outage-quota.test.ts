import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import type { Clock } from '../../agent/clock.js';
import { BrokerSchema } from '../../agent/config/schema.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { prediction } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const MiB = 1024 * 1024;
/** One real second is one hour and forty minutes of plant time. */
const SPEED = 6000;
const RATE = 4000;

test('a long outage (hours, time-compressed) beyond the quota: inference keeps committing, eviction is explicit and counted, the backlog drains in order at the rate limit with live data first', { timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker({ persistence: true });
  host.after(() => broker.stop());
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  await broker.stop();

  const origin = Date.now();
  const t0 = performance.now();
  const clock: Clock = { now: () => Math.round(origin + (performance.now() - t0) * SPEED), monotonic: () => performance.now() };
  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 1000, quota: { storeBytes: 3 * MiB, samplesBytes: MiB, modelsBytes: MiB }, checkpointS: 1 }, log, clock, flagBelowScore: 0.6 });
  host.after(() => store.stop());
  const config = BrokerSchema.parse({ url: broker.url, protocolVersion: broker.protocolVersion, keepaliveS: 5, reconnect: { minMs: 100, maxMs: 300 }, backlogRatePerS: RATE, batch: { maxCount: 50, backlogMaxCount: 200, lingerMs: 5 } });
  const sync = new MqttSync({ deviceId: 'gw-outage', site: 's', agentVersion: 't', config, outbox: store.outbox, events: store.events, log, clock });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 64, lingerMs: 2, clock, quota: store.quota!, onCommit: () => sync.wake() });
  host.after(async () => {
    await writer.stop();
    await sync.stop({ deadlineMs: 2000 });
  });
  await store.start(new AbortController().signal);
  await sync.start(new AbortController().signal);

  // The outage: inference keeps producing; every 10th prediction is flagged (low confidence).
  const padding = 'p'.repeat(700);
  let written = 0;
  const during: Promise<number>[] = [];
  while (performance.now() - t0 < 1500 || written < 12_000) {
    if (written >= 12_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    for (let k = 0; k < 100; k++, written++) during.push(writer.add(prediction(written, { frameId: `f-${written}-${padding}`, score: written % 10 === 0 ? 0.3 : 0.95 })));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const seqs = await Promise.all(during);
  assert.equal(seqs.length, written, 'every prediction was committed: the quota never stopped inference');
  const outageHours = (clock.now() - origin) / 3_600_000;
  t.diagnostic(`${written} predictions over ${outageHours.toFixed(1)} h of plant time`);
  assert.ok(outageHours >= 2, 'hours of outage, time-compressed');

  const quota = store.quota!;
  assert.ok(quota.usedBytes() <= 3 * MiB, 'the store stayed within its quota');
  assert.ok(quota.evicted.plain > 0, 'beyond the quota, plain predictions were evicted');
  assert.equal(quota.evicted.flagged, 0, 'flagged predictions outlived plain ones');
  const evictions = store.events.list({ kind: 'store_evicted', limit: 10_000 });
  const reported = evictions.reduce((n, e) => n + Number(e.detail?.count ?? 0), 0);
  assert.equal(reported, quota.evicted.plain + quota.evicted.events, 'every evicted row is in an event');
  const survivors = store.database.prepare<[], number>('SELECT seq FROM predictions ORDER BY seq').pluck().all();
  assert.equal(survivors.length + quota.evicted.plain, written, 'kept + evicted = committed: nothing vanished silently');

  // The broker comes back; live predictions keep coming while the backlog drains.
  await broker.restart?.();
  // Rows committed before the session starts are backlog too: live ones come after it.
  await waitFor('the sync to reconnect', () => sync.connected, 20_000, 5);
  const drainStart = performance.now();
  const live: number[] = [];
  const feeding = (async () => {
    while (store.outbox.pendingCount() > 0 && live.length < 400) {
      for (let k = 0; k < 20; k++) live.push(await writer.add(prediction(100_000 + live.length)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await waitFor('the backlog to drain', () => store.outbox.pendingCount() === 0 && survivors.length + live.length > 0 && ingest.countFor('gw-outage') === survivors.length + live.length, 60_000, 50);
  await feeding;
  const drainS = (performance.now() - drainStart) / 1000;
  const rate = survivors.length / drainS;
  t.diagnostic(`${survivors.length} backlog rows drained in ${drainS.toFixed(2)} s (${Math.round(rate)}/s, limit ${RATE}/s) with ${live.length} live predictions`);
  assert.ok(rate <= RATE * 1.25, `the backlog drained at a bounded rate (${Math.round(rate)}/s)`);

  const central = ingest.database.prepare<[string], number>('SELECT seq FROM predictions WHERE device = ? ORDER BY seq').pluck().all('gw-outage');
  assert.deepEqual(central, [...survivors, ...live].sort((a, b) => a - b), 'central has exactly the survivors and the live rows, once each');
  const boundary = survivors.at(-1)!;
  const firsts = ingest.database.prepare<[number], number>('SELECT first FROM batches WHERE device = \'gw-outage\' AND first <= ? ORDER BY rowid').pluck().all(boundary);
  assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), 'the backlog arrived in sequence order');
  const receivedAt = (seq: number) => ingest.database.prepare<[number], number>("SELECT received_at FROM predictions WHERE device = 'gw-outage' AND seq = ?").pluck().get(seq)!;
  if (live.length > 0) assert.ok(receivedAt(live[0]!) <= receivedAt(boundary), 'live data went ahead of the end of the backlog');
});
