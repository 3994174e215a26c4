import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { downloadArtifactOverMqtt, type MqttDownloadOptions } from '../../agent/rollout/download-mqtt.js';
import { publishArtifactChunks } from '../../central/publish/artifact-chunks.js';
import { BrokerClient } from '../../central/rollout/connection.js';
import { ARTIFACT_CHUNK_BYTES, artifactChunkTopic } from '../../protocol/topics.js';
import { randomArtifact, type TestArtifact } from '../helpers/artifact.js';
import { startBroker, startGate, type TcpGate, type TestBroker } from '../helpers/broker.js';
import { connectChannel, type ChunkTestChannel } from '../helpers/chunk-channel.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });
let broker: TestBroker;
let ops: BrokerClient;
let gate: TcpGate;

before(async () => {
  broker = await startBroker();
  gate = await startGate(broker.port);
  ops = await BrokerClient.connect({ url: broker.url, protocolVersion: broker.protocolVersion, clientId: 'ops-chunks', log });
});
after(async () => {
  await ops?.close();
  await gate?.close();
  await broker?.stop();
});

/** Publishes an artifact's chunks as `edgectl publish --via mqtt` does, under its own prefix. */
async function publish(prefix: string, artifact: TestArtifact, dir: string): Promise<void> {
  const file = join(dir, 'source.bin');
  await writeFile(file, artifact.body);
  await publishArtifactChunks(ops, prefix, { file, path: 'model.onnx', sha256: artifact.sha256, bytes: artifact.bytes }, () => undefined);
}

function options(channel: ChunkTestChannel, prefix: string, artifact: TestArtifact, dest: string, extra: Partial<MqttDownloadOptions> = {}): MqttDownloadOptions {
  return { channel, topicPrefix: prefix, sha256: artifact.sha256, bytes: artifact.bytes, dest, idleTimeoutMs: 1500, maxAttempts: 2, backoff: { minMs: 20, maxMs: 50 }, log, ...extra };
}

test('an artifact of several chunks arrives whole, verified, with progress, and no subscription is left behind', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const artifact = randomArtifact(5 * ARTIFACT_CHUNK_BYTES + 4321);
  await publish('dl-whole/v1', artifact, dir);
  const channel = await connectChannel(broker.url, broker.protocolVersion);
  t.after(() => channel.close());
  const progress: number[] = [];
  const dest = join(dir, 'out', 'model.onnx');
  const result = await downloadArtifactOverMqtt(options(channel, 'dl-whole/v1', artifact, dest, { onProgress: (p) => progress.push(p.bytes) }));
  assert.deepEqual(await readFile(dest), artifact.body);
  assert.equal(result.resumedFrom, 0);
  assert.equal(progress.at(-1), artifact.bytes);
  assert.equal(progress.length, 6, 'one progress report per chunk');
  assert.deepEqual(channel.filters, []);
  assert.equal(existsSync(`${dest}.part`), false);
});

test('a cut connection resumes by itself, and a stopped download resumes from the last whole chunk on disk', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const artifact = randomArtifact(8 * ARTIFACT_CHUNK_BYTES + 17);
  await publish('dl-resume/v1', artifact, dir);
  const dest = join(dir, 'out', 'model.onnx');

  // First run: the link is cut after two chunks, then the download is stopped after four.
  const channel = await connectChannel(gate.url, broker.protocolVersion);
  t.after(() => channel.close());
  const stop = new AbortController();
  let cut = false;
  await assert.rejects(
    downloadArtifactOverMqtt(
      options(channel, 'dl-resume/v1', artifact, dest, {
        window: 1,
        signal: stop.signal,
        onProgress: (p) => {
          if (p.bytes >= 2 * ARTIFACT_CHUNK_BYTES && !cut) {
            cut = true;
            gate.cut();
          }
          if (p.bytes >= 4 * ARTIFACT_CHUNK_BYTES) stop.abort();
        },
      }),
    ),
    (err: Error & { code?: string }) => err.code === 'E_ABORTED',
  );
  assert.ok(cut, 'the link was cut mid-download');
  const part = `${dest}.part`;
  assert.equal((await stat(part)).size, 4 * ARTIFACT_CHUNK_BYTES, 'four chunks on disk');
  assert.equal(existsSync(dest), false, 'nothing at the final path before verification');

  // A torn write after a power cut: half a chunk more than the last whole one.
  await writeFile(part, artifact.body.subarray(0, 4 * ARTIFACT_CHUNK_BYTES + ARTIFACT_CHUNK_BYTES / 2));
  const second = await connectChannel(broker.url, broker.protocolVersion);
  t.after(() => second.close());
  const result = await downloadArtifactOverMqtt(options(second, 'dl-resume/v1', artifact, dest));
  assert.equal(result.resumedFrom, 4 * ARTIFACT_CHUNK_BYTES, 'resumed at the chunk boundary');
  assert.deepEqual(await readFile(dest), artifact.body);
});

test('a missing chunk stalls the download with its index; once it is published the download resumes', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const artifact = randomArtifact(4 * ARTIFACT_CHUNK_BYTES);
  await publish('dl-gap/v1', artifact, dir);
  await ops.publishRetained(artifactChunkTopic('dl-gap/v1', artifact.sha256, 2), Buffer.alloc(0));
  const channel = await connectChannel(broker.url, broker.protocolVersion);
  t.after(() => channel.close());
  const dest = join(dir, 'out', 'model.onnx');
  await assert.rejects(downloadArtifactOverMqtt(options(channel, 'dl-gap/v1', artifact, dest, { idleTimeoutMs: 300 })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_DOWNLOAD_STALLED');
    assert.match(err.message, /chunk 2 of 4 did not arrive within 300 ms \(gave up after 2 attempts\)/);
    return true;
  });
  assert.equal((await stat(`${dest}.part`)).size, 2 * ARTIFACT_CHUNK_BYTES);
  assert.deepEqual(channel.filters, [], 'subscriptions released after giving up');

  await ops.publishRetained(artifactChunkTopic('dl-gap/v1', artifact.sha256, 2), artifact.body.subarray(2 * ARTIFACT_CHUNK_BYTES, 3 * ARTIFACT_CHUNK_BYTES));
  const result = await downloadArtifactOverMqtt(options(channel, 'dl-gap/v1', artifact, dest));
  assert.equal(result.resumedFrom, 2 * ARTIFACT_CHUNK_BYTES);
  assert.deepEqual(await readFile(dest), artifact.body);
});

test('tampered chunks are refused: wrong bytes fail the sha256 and leave nothing, a wrong length is named', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const artifact = randomArtifact(3 * ARTIFACT_CHUNK_BYTES + 99);
  await publish('dl-bad/v1', artifact, dir);
  const channel = await connectChannel(broker.url, broker.protocolVersion);
  t.after(() => channel.close());
  const dest = join(dir, 'out', 'model.onnx');

  const forged = Buffer.from(artifact.body.subarray(ARTIFACT_CHUNK_BYTES, 2 * ARTIFACT_CHUNK_BYTES));
  forged[1000] = (forged[1000] as number) ^ 0xff;
  await ops.publishRetained(artifactChunkTopic('dl-bad/v1', artifact.sha256, 1), forged);
  await assert.rejects(downloadArtifactOverMqtt(options(channel, 'dl-bad/v1', artifact, dest)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_DOWNLOAD_SHA256');
    return true;
  });
  assert.equal(existsSync(dest), false, 'a tampered artifact never reaches the final path');
  assert.equal(existsSync(`${dest}.part`), false, 'and its bytes are not kept for a resume');

  await ops.publishRetained(artifactChunkTopic('dl-bad/v1', artifact.sha256, 1), forged.subarray(0, 1000));
  await assert.rejects(downloadArtifactOverMqtt(options(channel, 'dl-bad/v1', artifact, dest)), /chunk 1 of artifact [0-9a-f]{12}… has 1000 bytes; the manifest's length means 262144/);
  assert.equal(existsSync(dest), false);
});
