import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX, desiredStateTopic, deviceTopics } from '../../protocol/topics.js';
import { makePki, type CertFiles, type TestPki } from '../helpers/certs.js';
import { DEPLOY_CONF, startFleetBroker } from '../helpers/fleet-broker.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const P = DEFAULT_TOPIC_PREFIX;

function tlsOpts(pki: TestPki, id: CertFiles, extra: IClientOptions = {}): IClientOptions {
  return {
    protocolVersion: 5,
    clientId: `c-${randomUUID()}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: readFileSync(pki.ca),
    cert: readFileSync(id.cert),
    key: readFileSync(id.key),
    servername: 'localhost',
    ...extra,
  };
}

/**
 * Topics a client hears on `filter` within `ms`, while `meanwhile` publishes. Mosquitto may
 * grant a wildcard subscription and still deliver nothing the ACL forbids: what counts is
 * what arrives.
 */
async function hear(client: MqttClient, filter: string, ms: number, meanwhile?: () => Promise<unknown>): Promise<string[]> {
  const got: string[] = [];
  const onMessage = (topic: string) => got.push(topic);
  client.on('message', onMessage);
  await client.subscribeAsync(filter, { qos: 1 });
  await meanwhile?.();
  await new Promise((resolve) => setTimeout(resolve, ms));
  client.off('message', onMessage);
  await client.unsubscribeAsync(filter);
  return got;
}

test('the deployed Mosquitto config: mutual TLS, identity as user name, and an ACL that keeps each device in its own topics', { timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const pki = makePki(dir);
  const broker = await startFleetBroker(host, pki, dir);
  const deployed = readFileSync(DEPLOY_CONF, 'utf8');
  for (const line of ['require_certificate true', 'use_identity_as_username true', 'persistence true', 'allow_anonymous false', 'acl_file /etc/mosquitto/acl']) {
    assert.ok(deployed.split('\n').includes(line), `the deployed config has "${line}"`);
  }
  assert.deepEqual(broker.rewritten.map(([from]) => from.split(' ')[0]).sort(), ['acl_file', 'cafile', 'certfile', 'keyfile', 'listener', 'persistence_location'], 'only paths and the listener differ');

  const central = pki.client('edgectl-central');
  const gwA = pki.client('gw-a');
  const gwB = pki.client('gw-b');

  // Central's ingest over mutual TLS.
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: `${dir}/central.db`, topicPrefix: P, protocolVersion: 5, clientId: 'central-ingest', shareGroup: 'central', log, reconnectMs: 200, tls: { ca: pki.ca, cert: central.cert, key: central.key, servername: 'localhost' } });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));

  // The agent's own sync, configured with files, delivers over mqtts.
  const device = await startSyncDevice(host, { deviceId: 'gw-a', dir, broker: { url: broker.url, protocolVersion: 5 }, brokerConfig: { tls: { ca: pki.ca, cert: gwA.cert, key: gwA.key, servername: 'localhost' } } });
  await waitFor('gw-a to connect over TLS', () => device.sync.connected, 10_000);
  await Promise.all(Array.from({ length: 60 }, (_, i) => device.writer.add(prediction(i))));
  await waitFor('gw-a predictions at central', () => ingest.countFor('gw-a') === 60, 10_000);

  // gw-a may not publish as gw-b: the broker answers "not authorized" and central never sees it.
  const a = await connectAsync(broker.url, tlsOpts(pki, gwA));
  host.after(() => a.endAsync(true));
  await assert.rejects(a.publishAsync(deviceTopics(P, 'gw-b').predictions, '{"v":1}', { qos: 1 }), /not authori[sz]ed|135/i);
  await assert.rejects(a.publishAsync(desiredStateTopic(P, 'device', 'gw-a'), '{"forged":true}', { qos: 1 }), /not authori[sz]ed|135/i, 'nor forge its own desired state');
  await a.publishAsync(deviceTopics(P, 'gw-a').events, '{"v":1,"device":"gw-a","events":[{"id":1,"ts":1,"level":"info","kind":"k","message":"m"}]}', { qos: 1 });
  const b = await connectAsync(broker.url, tlsOpts(pki, gwB));
  host.after(() => b.endAsync(true));
  const bTalks = () => b.publishAsync(deviceTopics(P, 'gw-b').events, '{"v":1,"device":"gw-b","events":[{"id":1,"ts":1,"level":"info","kind":"k","message":"m"}]}', { qos: 1 });
  assert.deepEqual(await hear(a, `${P}/gw-b/#`, 300, bTalks), [], 'nor read another device');
  const wide = await hear(a, `${P}/#`, 300, bTalks);
  assert.deepEqual(wide.filter((topic) => topic.startsWith(`${P}/gw-b/`)), [], `not even through a wider wildcard (heard ${wide.join(', ')})`);
  assert.deepEqual(await hear(b, `${P}/gw-b/events`, 300, bTalks), [`${P}/gw-b/events`], 'while gw-b reads its own');

  // Desired state: central publishes retained; gw-a reads its own, never gw-b's.
  const c = await connectAsync(broker.url, tlsOpts(pki, central));
  host.after(() => c.endAsync(true));
  await c.publishAsync(desiredStateTopic(P, 'device', 'gw-a'), '{"for":"gw-a"}', { qos: 1, retain: true });
  await c.publishAsync(desiredStateTopic(P, 'device', 'gw-b'), '{"for":"gw-b"}', { qos: 1, retain: true });
  await c.publishAsync(`${P}/models/m/1.0.0/manifest`, '{"m":1}', { qos: 1, retain: true });
  assert.deepEqual(await hear(a, desiredStateTopic(P, 'device', 'gw-a'), 300), [desiredStateTopic(P, 'device', 'gw-a')]);
  assert.deepEqual(await hear(a, desiredStateTopic(P, 'device', 'gw-b'), 300), [], "gw-b's desired state is not gw-a's to read");
  assert.deepEqual(await hear(a, `${P}/models/+/+/manifest`, 300), [`${P}/models/m/1.0.0/manifest`], 'manifests are readable');

  // The broker refuses clients without a certificate or with one from another CA, and the
  // client refuses a broker whose certificate does not name the host it asked for.
  const noCert = { ...tlsOpts(pki, gwA) } as IClientOptions;
  delete noCert.cert;
  delete noCert.key;
  await assert.rejects(connectAsync(broker.url, noCert), 'no client certificate, no connection');
  const rogue = pki.client('gw-a', { rogue: true });
  await assert.rejects(connectAsync(broker.url, tlsOpts(pki, rogue)), 'a certificate from another CA is refused');
  await assert.rejects(connectAsync(broker.url, tlsOpts(pki, gwA, { servername: 'broker.elsewhere.example' })), /altnames|hostname|does not match/i, 'server name checked');
  await assert.rejects(connectAsync(broker.url.replace('mqtts:', 'mqtt:'), { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2000 }), 'no plain MQTT on the TLS port');

  assert.equal(ingest.countFor('gw-b'), 0, 'nothing under gw-b reached central');
  assert.equal(ingest.stats.refused, 0);
});
