// Faults 7, 8 and 9 of ../shared/docs/faults.md, against real HTTP servers on loopback:
// a download cut off, stalled, throttled or served by a server that ignores Range still
// ends verified or not at all; too many bytes or a flipped bit never reach `dest`.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { AgentError } from '../../agent/errors.js';
import { downloadArtifact, type DownloadOptions } from '../../agent/rollout/download.js';
import { randomArtifact, type TestArtifact } from '../helpers/artifact.js';
import { startFlakyServer } from '../helpers/flaky-http.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

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

async function rejectsWith(p: Promise<unknown>, code: string): Promise<AgentError> {
  const err = await p.then(
    () => assert.fail(`expected ${code}, the download succeeded`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError, `an AgentError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

test('fault 7: a download cut off twice resumes with Range and moves about one file in all', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(1024 * 1024);
  const first = 400 * 1024;
  const second = 300 * 1024;
  const server = await startFlakyServer(t, artifact.body, (n) =>
    n === 0 ? { kind: 'cut', afterBytes: first } : n === 1 ? { kind: 'cut', afterBytes: second } : { kind: 'ok' },
  );
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const result = await downloadArtifact(options(artifact, [server.url], dest));

  // Bytes that reached the socket but not yet the file when the connection dropped are lost
  // with the stream (a few buffers' worth under load); resuming asks for exactly what is on disk.
  const slack = 256 * 1024;
  const starts = server.requests.map((r) => /^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]).map(Number);
  assert.equal(server.requests[0]?.range, undefined);
  const [, resume1 = NaN, resume2 = NaN] = starts;
  assert.ok(resume1 > first - slack && resume1 <= first, `second request resumes near ${first}: ${server.requests[1]?.range}`);
  assert.ok(resume2 > resume1 + second - slack && resume2 <= resume1 + second, `third request resumes near ${resume1 + second}: ${server.requests[2]?.range}`);
  assert.equal(result.attempts, 3);
  assert.equal(result.resumedFrom, resume2);
  const sent = server.bodyBytesSent();
  assert.ok(sent >= artifact.bytes && sent <= artifact.bytes + 2 * slack, `about one file crossed the wire, not three: ${sent} bytes for ${artifact.bytes}`);
  assert.ok((await readFile(dest)).equals(artifact.body));
  assert.deepEqual(await readdir(dir), ['model.onnx']);
});

test('fault 7: a server that stalls forever fails after bounded retries, the partial kept and never at dest', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(512 * 1024);
  const server = await startFlakyServer(t, artifact.body, () => ({ kind: 'stall', afterBytes: 64 * 1024 }));
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const started = performance.now();
  const err = await rejectsWith(downloadArtifact(options(artifact, [server.url], dest, { maxAttempts: 3, timeoutMs: { connect: 1000, idle: 300 } })), 'E_DOWNLOAD_STALLED');
  const elapsed = performance.now() - started;

  assert.equal(err.retryable, true);
  assert.match(err.message, /gave up after 3 attempts/);
  assert.ok(elapsed < 5000, `bounded: ${Math.round(elapsed)} ms`);
  assert.equal(server.requests.length, 3);
  assert.deepEqual(
    server.requests.map((r) => r.range),
    [undefined, `bytes=${64 * 1024}-`, `bytes=${128 * 1024}-`],
    'each retry resumed from what was on disk',
  );
  assert.equal(existsSync(dest), false, 'a partial is never at dest');
  assert.equal((await stat(`${dest}.part`)).size, 3 * 64 * 1024, 'the partial is kept for a later resume');
});

test('fault 7: a server that ignores Range is restarted from zero and the result is still right', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(700 * 1024);
  const server = await startFlakyServer(t, artifact.body, (n) => (n === 0 ? { kind: 'cut', afterBytes: 300 * 1024 } : { kind: 'ignore-range' }));
  const dest = join(await tempDir(t), 'model.onnx');
  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.equal(server.requests[1]?.range, `bytes=${300 * 1024}-`, 'asked for the rest');
  assert.equal(result.resumedFrom, 0, 'but got, and kept, the whole file');
  assert.equal(result.attempts, 2);
  assert.ok((await readFile(dest)).equals(artifact.body));
});

test('fault 7: 5xx answers are retried, the download then completes', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(64 * 1024);
  const server = await startFlakyServer(t, artifact.body, (n) => (n < 2 ? { kind: 'status', status: 503 } : { kind: 'ok' }));
  const dest = join(await tempDir(t), 'model.onnx');
  const result = await downloadArtifact(options(artifact, [server.url], dest));
  assert.equal(result.attempts, 3);
  assert.ok((await readFile(dest)).equals(artifact.body));
});

test('a 404 rules the URL out and the next one serves; a 404 everywhere fails with E_DOWNLOAD_HTTP', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(64 * 1024);
  const missing = await startFlakyServer(t, artifact.body, () => ({ kind: 'status', status: 404 }));
  const good = await startFlakyServer(t, artifact.body);
  const dir = await tempDir(t);
  const result = await downloadArtifact(options(artifact, [missing.url, good.url], join(dir, 'a.onnx')));
  assert.equal(result.url, good.url);
  assert.equal(missing.requests.length, 1);

  const err = await rejectsWith(downloadArtifact(options(artifact, [missing.url], join(dir, 'b.onnx'))), 'E_DOWNLOAD_HTTP');
  assert.equal(err.retryable, false);
  assert.equal(missing.requests.length, 2, 'a 404 is not retried from the same URL');
});

test('an unreachable server fails with E_DOWNLOAD_CONNECT after bounded retries', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(1024);
  const server = await startFlakyServer(t, artifact.body);
  await server.close(); // the port is free again: connections are refused
  const dest = join(await tempDir(t), 'model.onnx');
  const err = await rejectsWith(downloadArtifact(options(artifact, [server.url], dest, { maxAttempts: 2 })), 'E_DOWNLOAD_CONNECT');
  assert.equal(err.retryable, true);
});

for (const declareLength of [false, true]) {
  test(`fault 8: more bytes than the manifest (${declareLength ? 'announced' : 'chunked'}) are refused at the length`, { timeout: 20_000 }, async (t) => {
    const artifact = randomArtifact(256 * 1024);
    const server = await startFlakyServer(t, artifact.body, () => ({ kind: 'too-long', extra: 128 * 1024, declareLength }));
    const dir = await tempDir(t);
    const dest = join(dir, 'model.onnx');
    let most = 0;
    const err = await rejectsWith(downloadArtifact(options(artifact, [server.url], dest, { onProgress: (p) => (most = Math.max(most, p.bytes)) })), 'E_DOWNLOAD_TOO_LONG');
    assert.equal(err.retryable, false);
    // An announced length is refused from the headers, a chunked body at the chunk that crosses it.
    assert.match(err.message, declareLength ? /the server's file is 393216 bytes/ : /sent more than the manifest's 262144 bytes/);
    assert.ok(most <= artifact.bytes, `never more than the manifest's length on disk (${most})`);
    assert.equal(server.requests.length, 1, 'not retried from the same URL');
    assert.equal(existsSync(dest), false, 'nothing at dest');
    assert.equal(existsSync(`${dest}.part`), false, 'the partial is deleted');
  });
}

test('fault 9: a flipped bit is refused by sha256, nothing reaches dest', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(300 * 1024);
  const server = await startFlakyServer(t, artifact.body, () => ({ kind: 'flip', offset: 123_457 }));
  const dir = await tempDir(t);
  const dest = join(dir, 'model.onnx');
  const err = await rejectsWith(downloadArtifact(options(artifact, [server.url], dest)), 'E_DOWNLOAD_SHA256');
  assert.equal(err.retryable, false);
  assert.match(err.message, new RegExp(artifact.sha256));
  assert.equal(existsSync(dest), false, 'nothing at dest');
  assert.equal(existsSync(`${dest}.part`), false, 'the partial is deleted');
});

test('fault 9: with a second, good URL the download succeeds from it', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(300 * 1024);
  const flipped = await startFlakyServer(t, artifact.body, () => ({ kind: 'flip', offset: 7 }));
  const good = await startFlakyServer(t, artifact.body);
  const dest = join(await tempDir(t), 'model.onnx');
  const result = await downloadArtifact(options(artifact, [flipped.url, good.url], dest));
  assert.equal(result.url, good.url);
  assert.equal(result.attempts, 2);
  assert.equal(good.requests[0]?.range, undefined, 'the refused bytes were not resumed');
  assert.ok((await readFile(dest)).equals(artifact.body));
});

test('fault 7 + 9: a resumed download that does not verify is fetched again from zero', { timeout: 20_000 }, async (t) => {
  const artifact = randomArtifact(200 * 1024);
  const flipped = Buffer.from(artifact.body);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  // The mirror with the bad bit is cut off early, so its bad first half gets resumed from the good one.
  const tampered = await startFlakyServer(t, flipped, (n) => (n === 0 ? { kind: 'cut', afterBytes: 100 * 1024 } : { kind: 'ok' }));
  const good = await startFlakyServer(t, artifact.body);
  const dest = join(await tempDir(t), 'model.onnx');
  const result = await downloadArtifact(options(artifact, [tampered.url, good.url], dest));

  // 1 tampered: cut. 2 good: resumes, the whole does not verify; blame unclear, the partial goes.
  // 3 tampered: from zero, does not verify: ruled out. 4 good: from zero, verifies.
  assert.deepEqual(tampered.requests.map((r) => r.range), [undefined, undefined]);
  assert.deepEqual(good.requests.map((r) => r.range), [`bytes=${100 * 1024}-`, undefined]);
  assert.equal(result.attempts, 4);
  assert.equal(result.url, good.url);
  assert.equal(result.resumedFrom, 0);
  assert.ok((await readFile(dest)).equals(artifact.body));
  assert.equal(existsSync(`${dest}.part`), false);
});
