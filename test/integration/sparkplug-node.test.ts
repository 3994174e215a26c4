import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { BrokerSchema } from '../../agent/config/schema.js';
import { decodePayload, REBIRTH } from '../../agent/sync/sparkplug/payloads.js';
import { SparkplugNode } from '../../agent/sync/sparkplug/node.js';
import sparkplug from 'sparkplug-payload';
import { startBroker } from '../helpers/broker.js';
import { prediction } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const spB = sparkplug.get('spBv1.0')!;

interface Heard {
  type: string;
  seq: number | undefined;
  metrics: Array<{ name: string; value: unknown; isHistorical: boolean }>;
}

function asNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as { toNumber?: () => number }).toNumber?.() ?? v);
}

test('Sparkplug B: gated on the primary host STATE, NBIRTH/NDATA with bdSeq and seq, predictions as metrics, rebirth, NDEATH', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker();
  host.after(() => broker.stop());

  // The SCADA host: hears every node message of the group.
  const scada = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `scada-${randomUUID()}` });
  host.after(() => scada.endAsync(true));
  const heard: Heard[] = [];
  scada.on('message', (topic, payload) => {
    const type = topic.split('/')[2]!;
    if (!['NBIRTH', 'NDATA', 'NDEATH'].includes(type)) return;
    const p = decodePayload(payload);
    heard.push({ type, seq: p.seq === undefined || p.seq === null ? undefined : asNumber(p.seq), metrics: (p.metrics ?? []).map((m) => ({ name: m.name ?? '', value: m.value, isHistorical: m.isHistorical === true })) });
  });
  await scada.subscribeAsync('spBv1.0/plant/+/gw-spb', { qos: 1 });

  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 1000 }, log });
  host.after(() => store.stop());
  const config = BrokerSchema.parse({
    url: broker.url,
    protocolVersion: broker.protocolVersion,
    keepaliveS: 5,
    reconnect: { minMs: 100, maxMs: 300 },
    batch: { maxCount: 10, lingerMs: 5 },
    output: 'sparkplug',
    sparkplug: { groupId: 'plant', primaryHostId: 'scada-1', healthS: 3600 },
  });
  const clients: MqttClient[] = [];
  const capture = (url: string, o: IClientOptions) => {
    const c = connect(url, o);
    clients.push(c);
    return c;
  };
  const node = new SparkplugNode({ deviceId: 'gw-spb', site: 'plant', agentVersion: 'test', config, outbox: store.outbox, events: store.events, log, connect: capture });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 16, lingerMs: 2, onCommit: () => node.wake() });
  host.after(() => node.stop({ deadlineMs: 2000 }));
  // Committed while the node was not running: a backlog, sent as historical metrics.
  await Promise.all(Array.from({ length: 25 }, (_, i) => writer.add(prediction(i, { label: i % 5 === 0 ? 'scratch' : 'ok' }))));
  await node.start(new AbortController().signal);
  await waitFor('the node to connect', () => node.connected);

  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.equal(heard.length, 0, 'nothing is published before the primary host says it is online');
  assert.equal(store.outbox.pendingCount(), 25);

  await scada.publishAsync('spBv1.0/STATE/scada-1', JSON.stringify({ online: true, timestamp: Date.now() }), { qos: 1, retain: true });
  await waitFor('every prediction acknowledged', () => store.outbox.pendingCount() === 0, 10_000);
  await waitFor('the NDATA to arrive', () => heard.filter((h) => h.type === 'NDATA').flatMap((h) => h.metrics).filter((m) => m.name.endsWith('/Sequence')).length === 25);

  const births = heard.filter((h) => h.type === 'NBIRTH');
  assert.ok(births.length >= 1);
  assert.equal(heard[0]!.type, 'NBIRTH', 'NBIRTH comes first');
  assert.equal(heard[0]!.seq, 0);
  const bdSeq = asNumber(heard[0]!.metrics.find((m) => m.name === 'bdSeq')!.value);
  assert.ok(heard[0]!.metrics.some((m) => m.name === REBIRTH), 'NBIRTH declares the rebirth control');
  assert.ok(heard[0]!.metrics.some((m) => m.name === 'Health/State'), 'and the health metrics');
  // seq runs 0 (birth), 1, 2, ... across the node's messages since the last birth.
  const lastBirth = heard.map((h) => h.type).lastIndexOf('NBIRTH');
  const seqs = heard.slice(lastBirth).map((h) => h.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => i % 256), 'seq increases by one per message after NBIRTH');
  const seen = heard.filter((h) => h.type === 'NDATA').flatMap((h) => h.metrics);
  const sequences = seen.filter((m) => m.name === 'Predictions/cam-1/pcb-aoi/Sequence').map((m) => asNumber(m.value));
  assert.deepEqual(sequences, Array.from({ length: 25 }, (_, i) => i + 1), 'every prediction once, in order');
  const labels = seen.filter((m) => m.name === 'Predictions/cam-1/pcb-aoi/Label').map((m) => m.value);
  assert.equal(labels.filter((l) => l === 'scratch').length, 5);
  assert.ok(seen.every((m) => m.isHistorical), 'rows committed before the session are marked historical');

  // Rebirth on request; garbage and unknown commands are refused with an event.
  const before = heard.length;
  const ncmd = 'spBv1.0/plant/NCMD/gw-spb';
  await scada.publishAsync(ncmd, Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: REBIRTH, type: 'Boolean', value: true }] })), { qos: 1 });
  await waitFor('a new NBIRTH', () => heard.slice(before).some((h) => h.type === 'NBIRTH'));
  const reborn = heard.slice(before).find((h) => h.type === 'NBIRTH')!;
  assert.equal(reborn.seq, 0);
  assert.equal(asNumber(reborn.metrics.find((m) => m.name === 'bdSeq')!.value), bdSeq, 'same connection, same bdSeq');
  assert.ok(reborn.metrics.some((m) => m.name === 'Predictions/cam-1/pcb-aoi/Score'), 'the rebirth declares the prediction metrics');
  await scada.publishAsync(ncmd, Buffer.from('{"not":"protobuf"}'), { qos: 1 });
  await scada.publishAsync(ncmd, Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Format Disk', type: 'Boolean', value: true }] })), { qos: 1 });
  await waitFor('two refusals', () => store.events.list({ kind: 'command_refused' }).length === 2);
  const refusals = store.events.list({ kind: 'command_refused' }).map((e) => e.message);
  assert.ok(refusals.some((m) => /unknown NCMD metric "Node Control\/Format Disk"/.test(m)), refusals.join(' | '));
  assert.ok(refusals.some((m) => /not a Sparkplug B payload|no metric/.test(m)), refusals.join(' | '));

  // The host goes offline: data is held; back online: NBIRTH, then the held data (live, not historical).
  await scada.publishAsync('spBv1.0/STATE/scada-1', JSON.stringify({ online: false, timestamp: Date.now() }), { qos: 1, retain: true });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await Promise.all(Array.from({ length: 5 }, (_, i) => writer.add(prediction(100 + i))));
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(store.outbox.pendingCount(), 5, 'held while the primary host is offline');
  const mark = heard.length;
  await scada.publishAsync('spBv1.0/STATE/scada-1', JSON.stringify({ online: true, timestamp: Date.now() }), { qos: 1, retain: true });
  await waitFor('the held rows to go', () => store.outbox.pendingCount() === 0, 10_000);
  await waitFor('their NDATA', () => heard.slice(mark).some((h) => h.type === 'NDATA'));
  assert.equal(heard[mark]!.type, 'NBIRTH', 'a new NBIRTH before data after the host returns');
  const live = heard.slice(mark).filter((h) => h.type === 'NDATA').flatMap((h) => h.metrics);
  assert.ok(live.length > 0 && live.every((m) => !m.isHistorical), 'rows committed during the session are live, not historical');

  // The link dies without DISCONNECT: the broker publishes NDEATH with the live bdSeq; the next NBIRTH has the next bdSeq.
  const deathMark = heard.length;
  clients.at(-1)!.stream.destroy();
  await waitFor('NDEATH', () => heard.slice(deathMark).some((h) => h.type === 'NDEATH'), 10_000);
  const death = heard.slice(deathMark).find((h) => h.type === 'NDEATH')!;
  assert.equal(asNumber(death.metrics.find((m) => m.name === 'bdSeq')!.value), bdSeq);
  await waitFor('a reconnect and NBIRTH', () => heard.slice(deathMark).some((h) => h.type === 'NBIRTH'), 10_000);
  const next = heard.slice(deathMark).find((h) => h.type === 'NBIRTH')!;
  assert.equal(asNumber(next.metrics.find((m) => m.name === 'bdSeq')!.value), (bdSeq + 1) % 256);

  // A clean stop says NDEATH itself.
  const stopMark = heard.length;
  await node.stop({ deadlineMs: 2000 });
  await waitFor('NDEATH at stop', () => heard.slice(stopMark).some((h) => h.type === 'NDEATH'));
});
