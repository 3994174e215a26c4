import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSighting } from './file-stability.js';
import { hasErrorCode } from './file-settle.js';
import type { NameVerdict } from './folder-names.js';
import { describeStart, sniffImage } from './image-sniff.js';

/** Codes of frames the hot folder refuses before the pipeline sees them. */
export const FolderRejectCode = {
  empty: 'E_FRAME_EMPTY',
  tooLarge: 'E_FRAME_TOO_LARGE',
  notImage: 'E_FRAME_NOT_IMAGE',
  wrongExtension: 'E_FRAME_EXTENSION',
} as const;

/** A file the listing found complete, with what its name says it is. */
export interface Candidate extends FileSighting {
  verdict: NameVerdict;
}

export interface Refusal {
  code: string;
  reason: string;
}

/** Why a complete file is refused on its name and size alone; nothing is read for these. */
export function refusalBeforeReading(file: Candidate, maxBytes: number): Refusal | undefined {
  if (file.verdict === 'wrong-extension') return { code: FolderRejectCode.wrongExtension, reason: 'not an image file extension' };
  if (file.size === 0) return { code: FolderRejectCode.empty, reason: 'empty file (0 bytes)' };
  if (file.size > maxBytes) return { code: FolderRejectCode.tooLarge, reason: `file of ${file.size} bytes exceeds maxBytes ${maxBytes}` };
  return undefined;
}

/** Why content is refused on its magic bytes; deeper damage is the decoder's to find. */
export function refusalOfContent(data: Buffer): Refusal | undefined {
  if (sniffImage(data)) return undefined;
  return { code: FolderRejectCode.notImage, reason: `not an image: content starts with ${describeStart(data)}` };
}

/** The file's size and mtime now; undefined when it is gone or not a regular file. */
export async function sightFile(folder: string, name: string): Promise<FileSighting | undefined> {
  try {
    const st = await lstat(join(folder, name));
    return st.isFile() ? { name, size: st.size, mtimeMs: st.mtimeMs } : undefined;
  } catch (err) {
    if (hasErrorCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export type ReadOutcome = { data: Buffer } | { changed: true } | { failed: unknown };

/**
 * Reads a file judged complete, unless it changed since: time may have passed
 * waiting for room in the queue, and a writer may have come back. A file that
 * vanished counts as changed, so it is simply forgotten.
 */
export async function readUnchanged(path: string, expected: FileSighting): Promise<ReadOutcome> {
  try {
    const st = await lstat(path);
    if (!st.isFile() || st.size !== expected.size || st.mtimeMs !== expected.mtimeMs) return { changed: true };
    const data = await readFile(path);
    return data.length === expected.size ? { data } : { changed: true };
  } catch (err) {
    return hasErrorCode(err, 'ENOENT') ? { changed: true } : { failed: err };
  }
}
