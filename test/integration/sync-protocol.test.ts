import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { connectAsync } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** The embedded broker, which speaks MQTT 3.1.1 only, whatever TEST_BROKER says. */
async function aedes(): Promise<TestBroker> {
  const was = process.env.TEST_BROKER;
  process.env.TEST_BROKER = 'aedes';
  try {
    return await startBroker();
  } finally {
    if (was === undefined) delete process.env.TEST_BROKER;
    else process.env.TEST_BROKER = was;
  }
}

test('configured for MQTT 5, the sync falls back to MQTT 3.1.1 when the broker refuses 5, says so once, and delivers', { timeout: 30_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await aedes();
  host.after(() => broker.stop());
  assert.equal(broker.protocolVersion, 4);
  const observer = await connectAsync(broker.url, { protocolVersion: 4, clientId: `obs-${randomUUID()}` });
  host.after(() => observer.endAsync(true));
  const got: Buffer[] = [];
  observer.on('message', (_topic, payload) => got.push(payload));
  await observer.subscribeAsync('edge/v1/gw-v4/predictions', { qos: 1 });

  const device = await startSyncDevice(host, { deviceId: 'gw-v4', dir, broker: { url: broker.url, protocolVersion: 5 } });
  await waitFor('the sync to connect', () => device.sync.connected, 10_000);
  await Promise.all(Array.from({ length: 30 }, (_, i) => device.writer.add(prediction(i))));
  await waitFor('the rows acknowledged', () => device.store.outbox.pendingCount() === 0, 10_000);
  assert.ok(got.length > 0 && got[0]![0] === 0x1f && got[0]![1] === 0x8b, 'batches are gzip-compressed');
  const fallback = device.store.events.list({ kind: 'broker_protocol_fallback' });
  assert.equal(fallback.length, 1);
  assert.match(fallback[0]!.message, /refused MQTT 5 .*using MQTT 3\.1\.1/);
  assert.equal(device.store.events.list({ kind: 'broker_connected' })[0]?.detail?.protocolVersion, 4);
});

test('over MQTT 3.1.1 (no maximum packet size to tell the broker) the inbound guard refuses an oversize message before its handler', { timeout: 30_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await aedes();
  host.after(() => broker.stop());
  const device = await startSyncDevice(host, { deviceId: 'gw-guard', dir, broker: { url: broker.url, protocolVersion: 4 }, brokerConfig: { inbound: { maxBytes: 64 * 1024 } } });
  const handled: number[] = [];
  device.sync.subscribe('edge/v1/desired/device/gw-guard', (_topic, payload) => handled.push(payload.length));
  await waitFor('the sync to connect', () => device.sync.connected, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const c = await connectAsync(broker.url, { protocolVersion: 4, clientId: `c-${randomUUID()}` });
  host.after(() => c.endAsync(true));
  await c.publishAsync('edge/v1/desired/device/gw-guard', Buffer.alloc(5 * 1024 * 1024, 0x20), { qos: 1 });
  await c.publishAsync('edge/v1/desired/device/gw-guard', '{"small":true}', { qos: 1 });
  await waitFor('the small message handled', () => handled.length === 1, 10_000);
  assert.deepEqual(handled, [14], 'only the small one reached the handler');
  const refused = device.store.events.list({ kind: 'inbound_refused' });
  assert.equal(refused.length, 1);
  assert.match(refused[0]!.message, /edge\/v1\/desired\/device\/gw-guard .*1 over the 65536-byte limit \(last 5242880 bytes\)/);
});
