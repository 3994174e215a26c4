import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startArtifactServer } from '../../central/serve.js';
import { randomArtifact, writeBundle, type TestArtifact } from '../helpers/artifact.js';
import { BinProcess, runBin } from '../helpers/child.js';
import { rawRequest } from '../helpers/http-request.js';
import { tempDir, type CleanupHost } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

/** DIR/bundle-a/{model.onnx, manifest.json, notes.txt, .model.onnx.part}, a secret beside DIR, a symlink out. */
async function bundleDir(t: CleanupHost): Promise<{ dir: string; artifact: TestArtifact }> {
  const outer = await tempDir(t, 'edge-serve-');
  const dir = join(outer, 'bundles');
  await mkdir(join(dir, 'bundle-a'), { recursive: true });
  const artifact = randomArtifact(10_000);
  await writeBundle(join(dir, 'bundle-a'), 'model.onnx', artifact);
  await writeFile(join(dir, 'bundle-a', 'notes.txt'), 'not in the manifest\n');
  await writeFile(join(dir, 'bundle-a', '.model.onnx.part'), 'half');
  await writeFile(join(outer, 'secret.txt'), 'outside DIR\n');
  await symlink(join(outer, 'secret.txt'), join(dir, 'bundle-a', 'escape.txt'));
  await symlink(join(dir, 'bundle-a', 'notes.txt'), join(dir, 'bundle-a', 'notes-link.txt'));
  return { dir, artifact };
}

test('serve: whole files, single ranges, HEAD and 416, with length and the manifest sha256 as ETag', { timeout: 20_000 }, async (t) => {
  const { dir, artifact } = await bundleDir(t);
  const server = await startArtifactServer({ dir, host: '127.0.0.1', port: 0, log });
  t.after(() => server.close());
  const path = '/bundle-a/model.onnx';

  const whole = await rawRequest(server.url, path);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(artifact.body));
  assert.equal(whole.headers['content-length'], String(artifact.bytes));
  assert.equal(whole.headers['etag'], `"${artifact.sha256}"`);
  assert.equal(whole.headers['accept-ranges'], 'bytes');

  const head = await rawRequest(server.url, path, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(artifact.bytes));
  assert.equal(head.body.length, 0);

  const cases: [string, number, number][] = [
    ['bytes=10-19', 10, 19],
    ['bytes=9990-', 9990, 9999],
    ['bytes=-5', 9995, 9999],
    ['bytes=9000-20000', 9000, 9999],
  ];
  for (const [range, start, end] of cases) {
    const r = await rawRequest(server.url, path, { headers: { range } });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${artifact.bytes}`, range);
    assert.equal(r.headers['content-length'], String(end - start + 1), range);
    assert.ok(r.body.equals(artifact.body.subarray(start, end + 1)), range);
  }
  for (const range of ['bytes=10000-', 'bytes=20-10', 'bytes=abc', 'bytes=0-1,5-6', 'bytes=-0']) {
    const r = await rawRequest(server.url, path, { headers: { range } });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers['content-range'], `bytes */${artifact.bytes}`, range);
  }
  const otherUnit = await rawRequest(server.url, path, { headers: { range: 'items=0-1' } });
  assert.equal(otherUnit.status, 200, 'a range in another unit is ignored');
  const staleIfRange = await rawRequest(server.url, path, { headers: { range: 'bytes=10-19', 'if-range': '"something-else"' } });
  assert.equal(staleIfRange.status, 200, 'If-Range naming another version gets the whole file');

  const notes = await rawRequest(server.url, '/bundle-a/notes.txt');
  assert.equal(notes.status, 200);
  assert.match(String(notes.headers['etag']), /^"[0-9a-f]+-[0-9a-f]+"$/, 'size-mtime ETag outside the manifest');
  assert.equal((await rawRequest(server.url, '/bundle-a/notes-link.txt')).status, 200, 'a symlink inside DIR is served');
});

test('serve: no traversal, no listing, no hidden files, read-only', { timeout: 20_000 }, async (t) => {
  const { dir } = await bundleDir(t);
  const server = await startArtifactServer({ dir, host: '127.0.0.1', port: 0, log });
  t.after(() => server.close());
  const refused = [
    '/../secret.txt',
    '/bundle-a/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/bundle-a/%2E%2E/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/bundle-a%2f..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    `/${encodeURIComponent(join(dir, 'bundle-a', 'model.onnx'))}`,
    '//etc/passwd',
    '/bundle-a/escape.txt',
    '/bundle-a/.model.onnx.part',
    '/bundle-a/model.onnx%00.txt',
    '/%zz',
    '/',
    '/bundle-a',
    '/bundle-a/',
    '/nothing-here',
  ];
  for (const path of refused) {
    const r = await rawRequest(server.url, path);
    assert.equal(r.status, 404, path);
    assert.ok(!r.body.toString().includes('outside DIR'), path);
  }
  for (const method of ['PUT', 'POST', 'DELETE']) {
    const r = await rawRequest(server.url, '/bundle-a/model.onnx', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers['allow'], 'GET, HEAD');
  }
});

test('edgectl serve runs as a process, prints its URL, serves ranges and stops on SIGTERM', { timeout: 30_000 }, async (t) => {
  const { dir, artifact } = await bundleDir(t);
  const p = new BinProcess('edgectl', ['serve', '--dir', dir, '--port', '0']).cleanupWith(t);
  const listening = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/;
  await p.waitForOutput('the URL', () => listening.test(p.stdout));
  const url = listening.exec(p.stdout)?.[1] ?? '';

  const r = await rawRequest(url, '/bundle-a/model.onnx', { headers: { range: 'bytes=100-' } });
  assert.equal(r.status, 206);
  assert.ok(r.body.equals(artifact.body.subarray(100)));
  assert.equal((await rawRequest(url, '/../package.json')).status, 404);
  await p.waitForOutput('a log line per request', () => (p.stdout.match(/"msg":"request"/g) ?? []).length === 2);
  assert.equal(await p.stop('SIGTERM'), 0, p.tail());
});

test('edgectl serve refuses a missing --dir or a folder that does not exist', { timeout: 30_000 }, async (t) => {
  const missing = await runBin('edgectl', ['serve']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--dir DIR is required/);
  const nowhere = await runBin('edgectl', ['serve', '--dir', join(await tempDir(t), 'nope'), '--port', '0']);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /cannot serve .*nope: ENOENT/);
});
