import { open, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { partJpeg } from './images.js';

/** Writes `data` in `chunks` appends `gapMs` apart, like a slow SMB or FTP writer. */
export async function writeSlowly(path: string, data: Buffer, chunks = 4, gapMs = 200): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const size = Math.ceil(data.length / chunks);
    for (let k = 0; k < chunks; k++) {
      if (k > 0) await sleep(gapMs);
      await handle.write(data.subarray(k * size, (k + 1) * size));
      await handle.sync();
    }
  } finally {
    await handle.close();
  }
}

/** `count` good part JPEGs named `part-<first+i>.jpg` written into `folder`; returns the names. */
export async function dropParts(folder: string, first: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = first; i < first + count; i++) {
    const name = `part-${String(i).padStart(4, '0')}.jpg`;
    await writeFile(join(folder, name), await partJpeg(i));
    names.push(name);
  }
  return names;
}

/** Names of the regular files directly in `dir`, sorted; none when it does not exist. */
export async function filesIn(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
