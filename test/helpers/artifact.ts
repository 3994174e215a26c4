import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TestArtifact {
  body: Buffer;
  sha256: string;
  bytes: number;
}

/** `size` random bytes with their sha256, as a manifest would name them. */
export function randomArtifact(size: number): TestArtifact {
  const body = randomBytes(size);
  return { body, sha256: createHash('sha256').update(body).digest('hex'), bytes: size };
}

/**
 * Writes `artifact` as `name` in `dir`, beside a manifest.json naming its sha256 the way a
 * packed bundle does (a signed envelope whose payload lists the artifacts; unsigned here).
 */
export async function writeBundle(dir: string, name: string, artifact: TestArtifact): Promise<string> {
  await writeFile(join(dir, name), artifact.body);
  const payload = { name: 'defect', version: '1.0.0', artifacts: [{ path: name, role: 'model', sha256: artifact.sha256, bytes: artifact.bytes }] };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ payload, signatures: [] }, null, 2));
  return join(dir, name);
}
