import { statfs } from 'node:fs/promises';
import { DOWNLOAD_CODES, DownloadFailure } from './download-errors.js';

export interface DiskNeed {
  /** The folder the bytes will be written into. */
  dir: string;
  bytes: number;
  alreadyDownloaded: number;
  /** Headroom left free beyond the artifact: the outbox must keep room to write. */
  minFreeBytes: number;
}

/**
 * Refuses a download the disk cannot hold before a byte is asked for, so a model never
 * fills the disk the SQLite outbox needs. Space may come back, hence retryable.
 */
export async function ensureFreeSpace(need: DiskNeed): Promise<void> {
  const fs = await statfs(need.dir);
  const free = Number(fs.bavail) * Number(fs.bsize);
  const remaining = need.bytes - need.alreadyDownloaded;
  const required = remaining + need.minFreeBytes;
  if (free >= required) return;
  throw new DownloadFailure(
    DOWNLOAD_CODES.diskSpace,
    `not enough disk space in ${need.dir}: ${required} bytes needed (${remaining} still to download of ${need.bytes}, ${need.alreadyDownloaded} already there, plus ${need.minFreeBytes} headroom), ${free} free`,
    'stop',
    { retryable: true },
  );
}
