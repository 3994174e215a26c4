import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { packModel } from '../../central/bundle/pack.js';
import { readBundle } from '../../central/bundle/read.js';
import { generateSigningKey, type GeneratedKey } from '../../central/keys/keygen.js';
import { loadSigner } from '../../central/keys/signer.js';
import { publishBundle, type Via } from '../../central/publish/publish.js';
import { BrokerClient } from '../../central/rollout/connection.js';
import { trustStoreFrom, type TrustStore } from '../../protocol/signing.js';
import { runBin, type BinResult } from './child.js';
import { tempDir, type CleanupHost } from './tmp.js';

/*
 * Central's side of a rollout test: a signing key (and a stranger's), the defect model
 * packed as two versions with edgectl's own pack code, and ways to run edgectl against a
 * test broker.
 */

export interface OpsBench {
  dir: string;
  key: GeneratedKey;
  /** A key nobody trusts, under the same id: its signatures must be refused. */
  impostor: GeneratedKey;
  trust: TrustStore;
  impostorTrust: TrustStore;
  /** defect 1.4.0, manifest counter 7, downloadable over HTTP (URLs in the manifest). */
  v140: string;
  /** defect 1.5.0, manifest counter 8, no URLs: delivered over MQTT. */
  v150: string;
}

export async function makeOpsBench(host: CleanupHost): Promise<OpsBench> {
  const dir = await tempDir(host, 'edge-ops-');
  const key = await generateSigningKey('ops-2025', join(dir, 'keys'));
  const impostor = await generateSigningKey('ops-2025', join(dir, 'impostor'));
  const modelFile = await writeDefectModel(dir);
  const { input, preprocess, output, labels } = defectModelEntry(modelFile);
  const settingsFile = join(dir, 'defect.settings.yaml');
  await writeFile(settingsFile, stringify({ input, preprocess, output, labels }));
  const { signer } = await loadSigner(key.keyFile);
  const base = { modelFile, name: 'defect', settingsFile, signer };
  const v140 = (await packModel({ ...base, version: '1.4.0', counter: 7, outDir: join(dir, 'bundles', '1.4.0'), urlBase: 'http://models.plant.example/defect/1.4.0' })).dir;
  const v150 = (await packModel({ ...base, version: '1.5.0', counter: 8, outDir: join(dir, 'bundles', '1.5.0') })).dir;
  return { dir, key, impostor, trust: await trustOf(key), impostorTrust: await trustOf(impostor), v140, v150 };
}

async function trustOf(key: GeneratedKey): Promise<TrustStore> {
  const made = trustStoreFrom([{ id: key.keyId, publicKey: await readFile(key.publicKeyFile, 'utf8') }]);
  if (!made.ok) throw new Error(made.reason);
  return made.trust;
}

export interface TestBrokerRef {
  url: string;
  protocolVersion: 5 | 4;
}

/** Runs `edgectl ARGS --broker URL --mqtt-version V --prefix P`. */
export function edgectl(broker: TestBrokerRef, prefix: string, args: string[], timeoutMs = 60_000): Promise<BinResult> {
  return runBin('edgectl', [...args, ...brokerArgs(broker, prefix)], { timeoutMs, env: { EDGECTL_MQTT_PASSWORD: undefined } });
}

export function brokerArgs(broker: TestBrokerRef, prefix: string): string[] {
  return ['--broker', broker.url, '--mqtt-version', String(broker.protocolVersion), '--prefix', prefix];
}

/** Publishes a bundle with edgectl's publish code in this process (set-up for other tests). */
export async function publishInProcess(broker: TestBrokerRef, prefix: string, bundleDir: string, trust: TrustStore, via: Via): Promise<void> {
  const client = await BrokerClient.connect({ url: broker.url, protocolVersion: broker.protocolVersion, clientId: `test-publish-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, log: pino({ level: 'silent' }) });
  try {
    const bundle = await readBundle(bundleDir, trust);
    await publishBundle({ client, prefix, bundle, via, trust, progress: () => undefined, warn: () => undefined });
  } finally {
    await client.close();
  }
}

/** Every retained message on filter, read by a plain MQTT client (not edgectl's), by topic. */
export async function retainedOn(broker: TestBrokerRef, filter: string, quietMs = 400): Promise<Map<string, Buffer>> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `test-read-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
  const found = new Map<string, Buffer>();
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<void>((resolve) => {
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(resolve, quietMs);
    };
    client.on('message', (topic, payload, packet) => {
      if (packet.retain && payload.length > 0) found.set(topic, payload);
      arm();
    });
    arm();
  });
  await client.subscribeAsync(filter, { qos: 1 });
  await quiet;
  await client.endAsync();
  return found;
}

/** Publishes raw retained messages (garbage included) with a plain client. */
export async function putRetained(broker: TestBrokerRef, messages: Array<{ topic: string; payload: string | Buffer }>): Promise<void> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `test-put-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
  for (const m of messages) await client.publishAsync(m.topic, m.payload, { qos: 1, retain: true });
  await client.endAsync();
}
