import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { AgentError } from '../../agent/errors.js';
import { downloadArtifact, type DownloadOptions, type DownloadProgress } from '../../agent/rollout/download.js';
import { startArtifactServer } from '../../central/serve.js';
import { randomArtifact, writeBundle, type TestArtifact } from '../helpers/artifact.js';
import { startFlakyServer } from '../helpers/flaky-http.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

/** Small timeouts and backoff, so every failure path ends in well under the test's timeout. */
function options(artifact: TestArtifact, urls: string[], dest: string, extra: Partial<DownloadOptions> = {}): DownloadOptions {
  return {
    urls,
    sha256: artifact.sha256,
    bytes: artifact.bytes,
    dest,
    maxAttempts: 4,
    backoff: { minMs: 10, maxMs: 50 },
    timeoutMs: { connect: 2000, idle: 2000 },
    log,
    ...extra,
  };
}

async function servedBundle(t: CleanupHost, artifact: TestArtifact, rateBytesPerS?: number): Promise<string> {
  const dir = await tempDir(t, 'edge-serve-');
  await writeBundle(dir, 'model.onnx', artifact);
  const server = await startArtifactServer({ dir, host: '127.0.0.1', port: 0, rateBytesPerS, log });
  t.after(() => server.close());
  return `${server.url}/model.onnx`;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<AgentError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}, the download succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError, `an AgentError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

test('a plain download lands verified at dest, with no partial left behind', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(3 * 1024 * 1024 + 17);
  const url = await servedBundle(t, artifact);
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const progress: DownloadProgress[] = [];
  const result = await downloadArtifact(options(artifact, [url], dest, { onProgress: (p) => progress.push(p) }));

  assert.deepEqual(result, { path: dest, bytes: artifact.bytes, sha256: artifact.sha256, resumedFrom: 0, attempts: 1, url });
  assert.ok((await readFile(dest)).equals(artifact.body));
  assert.deepEqual(await readdir(dir), ['model.onnx'], 'neither .part nor its sidecar remain');
  assert.ok(progress.length > 1, 'progress reported while streaming');
  assert.equal(progress.at(-1)?.bytes, artifact.bytes);
  assert.ok(progress.every((p, i) => p.total === artifact.bytes && p.url === url && (i === 0 || p.bytes > (progress[i - 1]?.bytes ?? 0))));
});

test('a throttled server is waited for as long as bytes keep coming', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(600 * 1024);
  const url = await servedBundle(t, artifact, 200 * 1024);
  const dest = join(await tempDir(t), 'model.onnx');
  const started = performance.now();
  // The idle limit is far shorter than the whole transfer: only silence counts, not slowness.
  const result = await downloadArtifact(options(artifact, [url], dest, { timeoutMs: { connect: 2000, idle: 1000 } }));
  const elapsed = performance.now() - started;
  assert.equal(result.attempts, 1);
  assert.ok(elapsed > 2000, `throttled to about 3 s, took ${Math.round(elapsed)} ms`);
  assert.ok((await readFile(dest)).equals(artifact.body));
});

test('a complete partial answered with 416 is verified and put in place without a body', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(256 * 1024);
  const url = await servedBundle(t, artifact);
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  await writeFile(`${dest}.part`, artifact.body);
  await writeFile(`${dest}.part.json`, JSON.stringify({ v: 1, sha256: artifact.sha256, bytes: artifact.bytes }));
  const result = await downloadArtifact(options(artifact, [url], dest));
  assert.equal(result.resumedFrom, artifact.bytes);
  assert.equal(result.attempts, 1);
  assert.ok((await readFile(dest)).equals(artifact.body));
  assert.deepEqual(await readdir(dir), ['model.onnx']);
});

test('a partial of a different artifact is discarded, not resumed', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(300 * 1024);
  const server = await startFlakyServer(t, artifact.body);
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const other = randomArtifact(400 * 1024);
  await writeFile(`${dest}.part`, other.body.subarray(0, 100 * 1024));
  await writeFile(`${dest}.part.json`, JSON.stringify({ v: 1, sha256: other.sha256, bytes: other.bytes }));

  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.equal(server.requests[0]?.range, undefined, 'asked for the whole file');
  assert.equal(result.resumedFrom, 0);
  assert.ok((await readFile(dest)).equals(artifact.body));
});

test('a partial without a sidecar is discarded too: its owner is unknown', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(100 * 1024);
  const server = await startFlakyServer(t, artifact.body);
  const dest = join(await tempDir(t), 'model.onnx');
  await writeFile(`${dest}.part`, artifact.body.subarray(0, 10));
  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.equal(server.requests[0]?.range, undefined);
  assert.equal(result.resumedFrom, 0);
});

test('too little free disk is refused before any request', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(10 * 1024);
  const server = await startFlakyServer(t, artifact.body);
  const dest = join(await tempDir(t), 'model.onnx');
  const err = await rejectsWith(downloadArtifact(options(artifact, [server.url], dest, { minFreeBytes: 2 ** 62 })), 'E_DISK_SPACE');
  assert.equal(err.retryable, true);
  assert.match(err.message, new RegExp(`${artifact.bytes} still to download`));
  assert.match(err.message, /\d+ free/);
  assert.equal(server.requests.length, 0, 'the server got no request');
  assert.equal(existsSync(dest), false);
});

test('an abort keeps the partial, and a later call resumes it with Range', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(512 * 1024);
  const half = 200 * 1024;
  // The first request stalls after `half` bytes, so the abort lands at a known point.
  const server = await startFlakyServer(t, artifact.body, (n) => (n === 0 ? { kind: 'stall', afterBytes: half } : { kind: 'ok' }));
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const stop = new AbortController();
  const first = downloadArtifact(
    options(artifact, [server.url], dest, {
      signal: stop.signal,
      timeoutMs: { connect: 2000, idle: 10_000 },
      onProgress: (p) => p.bytes >= half && stop.abort(),
    }),
  );
  const err = await rejectsWith(first, 'E_ABORTED');
  assert.equal(err.retryable, true);
  assert.equal(existsSync(dest), false, 'nothing at dest');
  assert.equal((await stat(`${dest}.part`)).size, half, 'the partial is kept');

  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.equal(server.requests[1]?.range, `bytes=${half}-`);
  assert.equal(result.resumedFrom, half);
  assert.ok((await readFile(dest)).equals(artifact.body));
  assert.deepEqual(await readdir(dir), ['model.onnx']);
});

test('an already aborted signal makes no request', { timeout: 10_000 }, async (t) => {
  const artifact = randomArtifact(1024);
  const server = await startFlakyServer(t, artifact.body);
  const dest = join(await tempDir(t), 'model.onnx');
  await rejectsWith(downloadArtifact(options(artifact, [server.url], dest, { signal: AbortSignal.abort() })), 'E_ABORTED');
  assert.equal(server.requests.length, 0);
});

test('options that cannot describe a download are refused with E_DOWNLOAD_OPTIONS', async (t) => {
  const artifact = randomArtifact(16);
  const dest = join(await tempDir(t), 'model.onnx');
  await rejectsWith(downloadArtifact(options(artifact, [], dest)), 'E_DOWNLOAD_OPTIONS');
  await rejectsWith(downloadArtifact(options(artifact, ['ftp://x/y'], dest)), 'E_DOWNLOAD_OPTIONS');
  await rejectsWith(downloadArtifact({ ...options(artifact, ['http://127.0.0.1:1/x'], dest), sha256: 'abc' }), 'E_DOWNLOAD_OPTIONS');
});

test('a 416 for a range inside the artifact discards the partial and starts over', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(64 * 1024);
  const server = await startFlakyServer(t, artifact.body, (n) => (n === 0 ? { kind: 'status', status: 416 } : { kind: 'ok' }));
  const dest = join(await tempDir(t), 'model.onnx');
  await writeFile(`${dest}.part`, artifact.body.subarray(0, 1000));
  await writeFile(`${dest}.part.json`, JSON.stringify({ v: 1, sha256: artifact.sha256, bytes: artifact.bytes }));
  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.deepEqual(server.requests.map((r) => r.range), ['bytes=1000-', undefined]);
  assert.equal(result.resumedFrom, 0);
  assert.ok((await readFile(dest)).equals(artifact.body));
});

const OPENSSL = '/usr/bin/openssl';

test('https with a private CA: trusted through tls.ca, refused with E_DOWNLOAD_TLS without it', { timeout: 30_000, skip: !existsSync(OPENSSL) && `${OPENSSL} is not installed` }, async (t) => {
  const dir = await tempDir(t);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const artifact = randomArtifact(128 * 1024);
  const server = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => {
    res.writeHead(200, { 'content-length': artifact.bytes }).end(artifact.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/model.onnx`;

  const result = await downloadArtifact(options(artifact, [url], join(dir, 'a.onnx'), { tls: { ca: cert } }));
  assert.equal(result.sha256, artifact.sha256);
  const err = await rejectsWith(downloadArtifact(options(artifact, [url], join(dir, 'b.onnx'))), 'E_DOWNLOAD_TLS');
  assert.equal(err.retryable, false);
  await rejectsWith(downloadArtifact(options(artifact, [url], join(dir, 'c.onnx'), { tls: { ca: join(dir, 'missing.pem') } })), 'E_DOWNLOAD_TLS');
});
