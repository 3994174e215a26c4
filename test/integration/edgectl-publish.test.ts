import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { publishArtifactChunks } from '../../central/publish/artifact-chunks.js';
import { BrokerClient } from '../../central/rollout/connection.js';
import { MANIFEST_MAX_BYTES, ModelManifest, modelArtifact } from '../../protocol/manifest.js';
import { openSigned } from '../../protocol/signed-message.js';
import { ARTIFACT_CHUNK_BYTES, artifactChunkCount, artifactChunkTopic, manifestTopic } from '../../protocol/topics.js';
import { randomArtifact } from '../helpers/artifact.js';
import { startBroker } from '../helpers/broker.js';
import { edgectl, makeOpsBench, retainedOn } from '../helpers/ops-bench.js';
import { tempDir } from '../helpers/tmp.js';

const broker = await startBroker();
after(() => broker.stop());
const bench = await makeOpsBench({ after });

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The retained chunks of an artifact, joined in index order. */
async function reassemble(prefix: string, sha: string, bytes: number): Promise<Buffer> {
  const chunks = await retainedOn(broker, `${prefix}/artifacts/${sha}/+`);
  const count = artifactChunkCount(bytes);
  assert.equal(chunks.size, count, `${count} chunks retained`);
  return Buffer.concat(Array.from({ length: count }, (_, i) => chunks.get(artifactChunkTopic(prefix, sha, i)) ?? assert.fail(`chunk ${i} missing`)));
}

test('publish --via mqtt retains the verified manifest as signed and chunks that reassemble to the model', { timeout: 60_000 }, async () => {
  const prefix = 'p-mqtt/v1';
  const r = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--trust', bench.key.publicKeyFile]);
  assert.equal(r.code, 0, r.stderr);
  const topic = manifestTopic(prefix, 'defect', '1.5.0');
  assert.match(r.stdout, /^published defect 1\.5\.0 \(manifest counter 8, signed by ops-2025/);
  assert.ok(r.stdout.includes(topic));
  assert.match(r.stderr, /model\.onnx: 100% \(1\/1 chunk\)/);

  const retained = (await retainedOn(broker, topic)).get(topic);
  assert.ok(retained, 'the manifest is retained');
  assert.deepEqual(retained, await readFile(join(bench.v150, 'manifest.json')), 'the bytes as packed and signed');
  const opened = openSigned(ModelManifest, retained, bench.trust, { maxBytes: MANIFEST_MAX_BYTES });
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  assert.equal(openSigned(ModelManifest, retained, bench.impostorTrust, { maxBytes: MANIFEST_MAX_BYTES }).ok, false);

  const artifact = modelArtifact(opened.value);
  const whole = await reassemble(prefix, artifact.sha256, artifact.bytes);
  assert.equal(sha256(whole), artifact.sha256);
  assert.deepEqual(whole, await readFile(join(bench.v150, 'model.onnx')));

  const again = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--key', bench.key.keyFile]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^republished defect 1\.5\.0/);
});

test('an artifact larger than a chunk is published in chunks with progress per 10%', { timeout: 30_000 }, async (t) => {
  const prefix = 'p-chunks/v1';
  const dir = await tempDir(t);
  const artifact = randomArtifact(4 * ARTIFACT_CHUNK_BYTES + 1234);
  const file = join(dir, 'big.onnx');
  await writeFile(file, artifact.body);
  const client = await BrokerClient.connect({ url: broker.url, protocolVersion: broker.protocolVersion, clientId: `test-chunks-${process.pid}`, log: pino({ level: 'silent' }) });
  t.after(() => client.close());
  const lines: string[] = [];
  const count = await publishArtifactChunks(client, prefix, { file, path: 'big.onnx', sha256: artifact.sha256, bytes: artifact.bytes }, (l) => lines.push(l));
  assert.equal(count, 5);
  assert.deepEqual(lines, ['big.onnx: 20% (1/5 chunks)', 'big.onnx: 40% (2/5 chunks)', 'big.onnx: 60% (3/5 chunks)', 'big.onnx: 80% (4/5 chunks)', 'big.onnx: 100% (5/5 chunks)']);
  const whole = await reassemble(prefix, artifact.sha256, artifact.bytes);
  assert.equal(whole.length, artifact.bytes);
  assert.equal(sha256(whole), artifact.sha256);
});

test('publish of a bundle with download URLs goes over HTTP only', { timeout: 60_000 }, async () => {
  const prefix = 'p-http/v1';
  const r = await edgectl(broker, prefix, ['publish', '--bundle', bench.v140, '--key', bench.key.keyFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /over HTTP from http:\/\/models\.plant\.example\/defect\/1\.4\.0\/model\.onnx/);
  assert.equal((await retainedOn(broker, `${prefix}/artifacts/#`)).size, 0, 'no chunks');
  assert.equal((await retainedOn(broker, `${prefix}/models/#`)).size, 1);
});

test('publish refuses a bundle that does not verify, and --url-base on a manifest without URLs', { timeout: 60_000 }, async () => {
  const prefix = 'p-refused/v1';
  const stranger = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--trust', bench.impostor.publicKeyFile]);
  assert.equal(stranger.code, 1);
  assert.match(stranger.stderr, /does not match the payload \[E_BAD_SIGNATURE\]/);

  const urls = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--trust', bench.key.publicKeyFile, '--url-base', 'https://models.example/defect']);
  assert.equal(urls.code, 1);
  assert.match(urls.stderr, /URLs are part of the SIGNED manifest.*edgectl pack --url-base https:\/\/models\.example\/defect/);

  const http = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--trust', bench.key.publicKeyFile, '--via', 'http']);
  assert.equal(http.code, 1);
  assert.match(http.stderr, /agents could not fetch it/);

  const usage = await edgectl(broker, prefix, ['publish', '--bundle', bench.v150, '--via', 'carrier-pigeon']);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.trim().split('\n').length, 1, usage.stderr);
  assert.equal((await retainedOn(broker, `${prefix}/#`)).size, 0, 'nothing was published');
});
