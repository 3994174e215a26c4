import { constants } from 'node:fs';
import { copyFile, lstat, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

/** True when `err` is a Node system error with this errno code. */
export function hasErrorCode(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === code;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (hasErrorCode(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * A name in `dir` nothing occupies yet: `name`, else `stem-1.ext`, `stem-2.ext`, ...
 * Controllers reuse names (counters wrap, a day folder restarts at 0001), and an
 * earlier frame's evidence must never be overwritten by a later one.
 * Callers serialise moves into one directory, so the check cannot race itself.
 */
export async function freeName(dir: string, name: string): Promise<string> {
  if (!(await exists(join(dir, name)))) return name;
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 1; n < 10_000; n++) {
    const candidate = `${stem}-${n}${ext}`;
    if (!(await exists(join(dir, candidate)))) return candidate;
  }
  return `${stem}-${Date.now()}${ext}`;
}

/**
 * Moves `src` into `dir` under a free name and returns the new path.
 * Rename is atomic on one filesystem; done/ and rejected/ may sit on another
 * (a USB stick, a separate mount), where rename fails with EXDEV and the file is
 * copied (never over an existing one) and then unlinked.
 */
export async function moveInto(src: string, dir: string, name: string): Promise<string> {
  const dest = join(dir, await freeName(dir, name));
  try {
    await rename(src, dest);
    return dest;
  } catch (err) {
    if (!hasErrorCode(err, 'EXDEV')) throw err;
  }
  try {
    await copyFile(src, dest, constants.COPYFILE_EXCL);
  } catch (err) {
    await rm(dest, { force: true }).catch(() => {});
    throw err;
  }
  await unlink(src);
  return dest;
}

/** Deletes a processed file; one that is already gone counts as deleted. */
export async function deleteFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!hasErrorCode(err, 'ENOENT')) throw err;
  }
}

/**
 * Writes `<file>.reason.txt` beside a rejected file, so whoever empties the
 * folder on the share sees why without access to the agent's audit trail.
 */
export async function writeReasonNote(rejectedPath: string, lines: Record<string, string | number>): Promise<void> {
  const text = Object.entries(lines).map(([key, value]) => `${key}: ${value}`).join('\n');
  await writeFile(`${rejectedPath}.reason.txt`, `${text}\n`);
}
