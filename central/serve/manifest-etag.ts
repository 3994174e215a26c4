import { readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

const MANIFEST = 'manifest.json';
const MAX_MANIFEST_BYTES = 1024 * 1024;
const SHA256 = /^[0-9a-f]{64}$/i;
const NAME_KEYS = ['path', 'file', 'name'] as const;

/**
 * The sha256 a bundle's `manifest.json` gives for `file`, looking in the file's folder
 * and each parent up to `root`. A packed bundle lists `payload.artifacts[]` with `path`
 * and `sha256` (protocol/manifest.ts); the search is by shape rather than by that schema,
 * so an ETag needs neither the signature checked nor the exact manifest version: any
 * object with a 64-hex `sha256` and a `path`, `file` or `name` equal to the file's path
 * relative to the manifest counts. Undefined when none names it.
 */
export async function manifestSha256(root: string, file: string): Promise<string | undefined> {
  for (let dir = dirname(file); dir === root || dir.startsWith(root + sep); dir = dirname(dir)) {
    const manifest = await readManifest(join(dir, MANIFEST));
    if (manifest !== undefined) {
      const found = findSha256(manifest, relative(dir, file).split(sep).join('/'));
      if (found) return found.toLowerCase();
    }
    if (dir === root) break;
  }
  return undefined;
}

async function readManifest(path: string): Promise<unknown> {
  try {
    if ((await stat(path)).size > MAX_MANIFEST_BYTES) return undefined;
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function findSha256(node: unknown, rel: string): string | undefined {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findSha256(item, rel);
      if (found) return found;
    }
    return undefined;
  }
  if (node === null || typeof node !== 'object') return undefined;
  const record = node as Record<string, unknown>;
  const sha = record.sha256;
  if (typeof sha === 'string' && SHA256.test(sha) && NAME_KEYS.some((k) => record[k] === rel || record[k] === `./${rel}`)) return sha;
  for (const value of Object.values(record)) {
    const found = findSha256(value, rel);
    if (found) return found;
  }
  return undefined;
}
