import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { mallocTrim } from '../../agent/memory/glibc.js';
import { REPO_ROOT } from '../helpers/child.js';

const MB = 1024 * 1024;

interface Readings {
  rssStart: number;
  rssFilled: number;
  rssFreed: number;
  rssTrimmed: number;
  trims: number;
  last?: { ms: number; rssBefore: number; rssAfter: number };
  kept: number;
}

function fragmentedHeap(intervalMs: number): Readings {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'test/helpers/fragmented-heap.ts'), String(intervalMs)], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Readings;
}

/** The glibc version node runs on; undefined on musl and off Linux, where there is nothing to trim. */
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const skip = glibc ? false : 'not a glibc system';

test('on glibc, malloc_trim is reachable through koffi', { skip }, () => {
  assert.ok(mallocTrim(), `koffi loads libc.so.6 (glibc ${glibc}) and its malloc_trim`);
});

test('the agent hands the free pages between live blocks of its native heap back to the system', { skip }, () => {
  const r = fragmentedHeap(200);
  const filled = r.rssFilled - r.rssStart;
  const freedBytes = (4000 - r.kept) * 32 * 1024;
  assert.ok(filled > 100 * MB, `the buffers took ${(filled / MB).toFixed(1)} MB of RSS`);
  // Freeing alone gives little back: the blocks still in use pin the pages between them.
  assert.ok(r.rssFilled - r.rssFreed < freedBytes / 4, `freeing alone gave back ${((r.rssFilled - r.rssFreed) / MB).toFixed(1)} MB of ${(freedBytes / MB).toFixed(1)}`);
  assert.ok(r.trims >= 1, 'the timer ran a trim');
  const released = r.rssFreed - r.rssTrimmed;
  assert.ok(released > freedBytes / 2, `the trim gave back ${(released / MB).toFixed(1)} MB of the ${(freedBytes / MB).toFixed(1)} MB freed`);
  assert.ok(r.last && r.last.ms >= 0 && r.last.rssBefore > r.last.rssAfter, `the trim reports its time and the RSS around it: ${JSON.stringify(r.last)}`);
});

test('memory.trimIntervalMs 0 turns trimming off', { skip }, () => {
  const r = fragmentedHeap(0);
  assert.equal(r.trims, 0);
  assert.ok(r.rssFreed - r.rssTrimmed < 20 * MB, `nothing was trimmed: ${((r.rssFreed - r.rssTrimmed) / MB).toFixed(1)} MB`);
});
