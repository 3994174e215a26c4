import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';

/** What the manifest says the artifact is; a partial file belongs to exactly one. */
export interface ArtifactIdentity {
  sha256: string;
  bytes: number;
}

export interface PartialDownloadOptions {
  dest: string;
  partDir: string;
  artifact: ArtifactIdentity;
  log: Logger;
}

/**
 * The bytes of an artifact received so far: `<name>.part` beside a `<name>.part.json`
 * sidecar naming the artifact they belong to. The partial is only ever renamed to its
 * final name after verification, so a half-downloaded model can never be loaded.
 */
export class PartialDownload {
  readonly partPath: string;
  readonly sidecarPath: string;
  private readonly dest: string;
  private readonly artifact: ArtifactIdentity;
  private readonly log: Logger;

  constructor(opts: PartialDownloadOptions) {
    this.dest = opts.dest;
    this.artifact = opts.artifact;
    this.log = opts.log;
    this.partPath = join(opts.partDir, `${basename(opts.dest)}.part`);
    this.sidecarPath = `${this.partPath}.json`;
  }

  /**
   * The size of the partial that can be resumed, after discarding one that belongs to
   * another artifact (or to none we can tell). Leaves a sidecar for this artifact, so
   * whatever is written next is attributable.
   */
  async adopt(): Promise<number> {
    const size = await fileSize(this.partPath);
    const owner = await this.readSidecar();
    const ours = owner?.sha256 === this.artifact.sha256 && owner.bytes === this.artifact.bytes;
    if (size !== undefined && ours && size <= this.artifact.bytes) return size;
    if (size !== undefined) {
      const why = !owner ? 'no readable sidecar' : !ours ? `belongs to sha256 ${owner.sha256.slice(0, 12)}… (${owner.bytes} bytes)` : `longer than ${this.artifact.bytes} bytes`;
      this.log.info({ part: this.partPath, size, why }, 'discarding a partial download that cannot be resumed');
      await rm(this.partPath, { force: true });
    }
    if (!ours) await writeFile(this.sidecarPath, JSON.stringify({ v: 1, sha256: this.artifact.sha256, bytes: this.artifact.bytes }) + '\n');
    return 0;
  }

  /**
   * A sha256 fed with the partial's bytes as they are on disk, and their count; the
   * download continues the same hash with the bytes still to come.
   */
  async hashSoFar(): Promise<{ hash: Hash; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(this.partPath)) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { hash, size };
  }

  /** Throws the partial away (keeping the sidecar: the next bytes are still this artifact's). */
  async discard(): Promise<void> {
    await rm(this.partPath, { force: true });
  }

  /**
   * Makes the verified partial the artifact: data on disk first, then an atomic rename,
   * then the directory entry on disk, so after a power cut either the old state or the
   * complete file exists at `dest`.
   */
  async promote(): Promise<void> {
    await fsyncPath(this.partPath);
    await rename(this.partPath, this.dest);
    await fsyncPath(dirname(this.dest));
    if (dirname(this.partPath) !== dirname(this.dest)) await fsyncPath(dirname(this.partPath));
    await rm(this.sidecarPath, { force: true });
  }

  private async readSidecar(): Promise<ArtifactIdentity | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.sidecarPath, 'utf8')) as Partial<ArtifactIdentity>;
      if (typeof parsed.sha256 === 'string' && typeof parsed.bytes === 'number') return { sha256: parsed.sha256, bytes: parsed.bytes };
    } catch {
      // Missing or torn by a power cut: either way the partial's owner is unknown.
    }
    return undefined;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
