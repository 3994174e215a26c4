import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { defectModelEntry } from '../../agent/demo/defect-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { packModel, type PackResult } from '../../central/bundle/pack.js';
import type { DesiredState } from '../../protocol/desired-state.js';
import { signEnvelope, type Signer } from '../../protocol/signing.js';
import { desiredStateTopic, manifestTopic } from '../../protocol/topics.js';

export const PREFIX = 'edge/v1';

/** A fresh Ed25519 signing key and its public half as PEM. */
export function makeKey(keyId: string): { signer: Signer; publicKeyPem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: { keyId, privateKey }, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), publicKey };
}

/** Three golden frames rendered by the synthetic camera (clean and defective parts). */
export async function goldenFiles(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const i of [0, 1, 3]) {
    const file = join(dir, `golden-${i}.jpg`);
    await writeFile(file, await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate: 0.5, seed: 4 })));
    files.push(file);
  }
  return files;
}

export interface BundleSpec {
  modelFile: string;
  version: string;
  counter: number;
  signer: Signer;
  /** Where the bundle folders are served from; the bundle lands in `<root>/<version>`. */
  root: string;
  /** Absent: the manifest names no URL and the artifact travels as MQTT chunks. */
  urlBase?: string;
  goldens?: string[];
  expiresInMs?: number;
  now?: () => number;
  /** The class names in output order, when not the demo model's own. */
  labels?: string[];
}

/** Packs a model as a new version of the demo's `defect` model, with the agent's own pack code. */
export async function packDefect(spec: BundleSpec): Promise<PackResult> {
  const settingsFile = join(spec.root, `settings-${spec.version}.yaml`);
  const { input, preprocess, output, labels } = defectModelEntry(spec.modelFile);
  await mkdir(spec.root, { recursive: true });
  await writeFile(settingsFile, stringify({ input, preprocess, output, labels: spec.labels ?? labels }));
  return packModel({
    modelFile: spec.modelFile,
    name: 'defect',
    version: spec.version,
    counter: spec.counter,
    settingsFile,
    signer: spec.signer,
    outDir: join(spec.root, spec.version),
    ...(spec.urlBase !== undefined ? { urlBase: `${spec.urlBase}/${spec.version}` } : {}),
    goldenFiles: spec.goldens ?? [],
    ...(spec.expiresInMs ? { expiresInMs: spec.expiresInMs } : {}),
    ...(spec.now ? { now: spec.now } : {}),
  });
}

/** A signed desired state for one device. */
export function desiredFor(device: string, counter: number, signer: Signer, models: DesiredState['models'], extra: Partial<DesiredState> = {}) {
  const payload: DesiredState = { v: 1, target: { kind: 'device', id: device }, counter, issuedAt: new Date().toISOString(), models, ...extra };
  return signEnvelope(payload, signer);
}

/** Publishes retained messages the way central does, then disconnects. */
export async function publishRetained(url: string, protocolVersion: 4 | 5, messages: Array<{ topic: string; payload: string | Buffer }>): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion, clientId: `test-central-${process.pid}-${Math.random().toString(16).slice(2)}` });
  for (const m of messages) await client.publishAsync(m.topic, m.payload, { qos: 1, retain: true });
  await client.endAsync();
}

/** The retained manifest and the device's desired state for one bundle. */
export function rolloutMessages(bundle: PackResult, device: string, desiredCounter: number, signer: Signer) {
  const m = bundle.manifest;
  return [
    { topic: manifestTopic(PREFIX, m.name, m.version), payload: JSON.stringify(bundle.envelope) },
    { topic: desiredStateTopic(PREFIX, 'device', device), payload: JSON.stringify(desiredFor(device, desiredCounter, signer, [{ name: m.name, version: m.version, counter: m.counter }])) },
  ];
}

export const silentLog = pino({ level: 'silent' });
