import type { Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { DOWNLOAD_CODES, DownloadFailure } from './download-errors.js';

export interface ArtifactSinkOptions {
  partPath: string;
  /** `append` continues a resumed partial; `truncate` starts it over. */
  mode: 'append' | 'truncate';
  /** Continued with every byte written, so the file is hashed once, while it streams. */
  hash: Hash;
  /** Bytes already in the partial before this response. */
  start: number;
  /** The manifest's length: not one byte is written beyond it. */
  bytes: number;
  /** Told the partial's new size after each chunk is on its way to disk. */
  onBytes: (size: number) => void;
}

/**
 * Writes one response's body into the partial file, hashing it on the way and refusing
 * the first chunk that would take the file past the manifest's length (a server sending
 * more than promised is not the artifact, however the rest would look).
 */
export class ArtifactSink extends Writable {
  /** Bytes of this response written to the partial. */
  received = 0;
  /** Settles once the file is closed, so the next attempt measures what is really there. */
  readonly fileClosed: Promise<void>;
  private fh: FileHandle | undefined;
  private readonly opts: ArtifactSinkOptions;
  private markClosed!: () => void;

  constructor(opts: ArtifactSinkOptions) {
    super({ highWaterMark: 256 * 1024 });
    this.opts = opts;
    this.fileClosed = new Promise((resolve) => (this.markClosed = resolve));
  }

  override _construct(callback: (err?: Error | null) => void): void {
    open(this.opts.partPath, this.opts.mode === 'append' ? 'a' : 'w').then(
      (fh) => {
        this.fh = fh;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    const { start, bytes } = this.opts;
    if (start + this.received + chunk.length > bytes) {
      callback(new DownloadFailure(DOWNLOAD_CODES.tooLong, `the server sent more than the manifest's ${bytes} bytes; download aborted at the length`, 'next-url'));
      return;
    }
    this.opts.hash.update(chunk);
    writeAll(this.fh as FileHandle, chunk).then(() => {
      this.received += chunk.length;
      this.opts.onBytes(start + this.received);
      callback();
    }, callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    const finish = (closeErr?: unknown) => {
      this.markClosed();
      callback(err ?? (closeErr as Error | undefined) ?? null);
    };
    if (!fh) return finish();
    fh.close().then(() => finish(), finish);
  }
}

/** `write` may write less than asked; a partial file with a hole in it would never verify. */
export async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
