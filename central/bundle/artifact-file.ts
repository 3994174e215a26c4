import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { AgentError, errorMessage } from '../../agent/errors.js';

/** What a manifest says about a file's bytes. */
export interface FileDigest {
  sha256: string;
  bytes: number;
}

/** Where progress lines go (stderr for the CLI); one line per call. */
export type ProgressSink = (line: string) => void;

/** Files smaller than this are hashed too quickly for per-10% lines to mean anything; they only get the summary. */
export const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;

const MB = 1024 * 1024;

/** Copies src to dest (which must not exist), computing sha256 and length of exactly the bytes written. */
export async function copyWithDigest(src: string, dest: string, label: string, progress?: ProgressSink): Promise<FileDigest> {
  const total = await sizeOf(src);
  const meter = new Meter(label, 'copied', total, progress);
  try {
    await pipeline(createReadStream(src, { highWaterMark: MB }), meter.transform(), createWriteStream(dest, { flags: 'wx' }));
    // The manifest will promise these bytes; make sure they are on disk before it is signed.
    const handle = await open(dest, 'r');
    await handle.sync().finally(() => handle.close());
  } catch (err) {
    throw new AgentError('E_BUNDLE_WRITE', `cannot copy ${src} to ${dest}: ${errorMessage(err)}`, { cause: err });
  }
  return meter.finish();
}

/** sha256 and length of a file, read as a stream. */
export async function digestFile(path: string, label: string, progress?: ProgressSink): Promise<FileDigest> {
  const total = await sizeOf(path);
  const meter = new Meter(label, 'hashed', total, progress);
  try {
    await pipeline(createReadStream(path, { highWaterMark: MB }), meter.transform(), async (source: AsyncIterable<Buffer>) => {
      for await (const _ of source) {
        // drained: the meter has seen every byte
      }
    });
  } catch (err) {
    throw new AgentError('E_BUNDLE_READ', `cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  return meter.finish();
}

async function sizeOf(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error('not a file');
    return s.size;
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new AgentError('E_BUNDLE_READ', `cannot read ${path}: ${reason}`, { cause: err });
  }
}

/** Hashes and counts bytes passing through, and reports every 10% of a large file plus a summary with MB/s. */
class Meter {
  private readonly hash: Hash = createHash('sha256');
  private readonly started = performance.now();
  private bytes = 0;
  private reportedTenths = 0;

  constructor(
    private readonly label: string,
    private readonly verb: string,
    private readonly total: number,
    private readonly progress: ProgressSink | undefined,
  ) {}

  transform(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        this.report();
        done(null, chunk);
      },
    });
  }

  private report(): void {
    if (!this.progress || this.total < PROGRESS_MIN_BYTES) return;
    const tenths = Math.floor((this.bytes * 10) / this.total);
    if (tenths <= this.reportedTenths || tenths >= 10) return;
    this.reportedTenths = tenths;
    this.progress(`${this.label}: ${tenths * 10}% (${size(this.bytes)} of ${size(this.total)})`);
  }

  finish(): FileDigest {
    const sha256 = this.hash.digest('hex');
    const seconds = Math.max((performance.now() - this.started) / 1000, 1e-6);
    this.progress?.(`${this.label}: ${size(this.bytes)} ${this.verb} in ${seconds.toFixed(2)} s (${(this.bytes / MB / seconds).toFixed(1)} MiB/s), sha256 ${sha256.slice(0, 16)}…`);
    return { sha256, bytes: this.bytes };
  }
}

function size(bytes: number): string {
  return bytes < MB ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / MB).toFixed(1)} MiB`;
}
