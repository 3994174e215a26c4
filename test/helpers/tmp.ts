import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Anything with an `after` hook: a test's context (`t`), or `{ after }` from node:test for a whole file. */
export interface CleanupHost {
  after(fn: () => unknown): unknown;
}

/** A fresh directory under the OS temp dir, removed (with everything in it) after `host` ends. */
export async function tempDir(host: CleanupHost, prefix = 'edge-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  host.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
