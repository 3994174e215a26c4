import { mkdir, open, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { ARTIFACT_CHUNK_BYTES, ARTIFACT_CHUNK_MAX_BYTES, artifactChunkCount, artifactChunkTopic } from '../../protocol/topics.js';
import { Backoff, sleep, type BackoffOptions } from '../lifecycle/backoff.js';
import type { MessageHandler } from '../sync/subscriptions.js';
import { ensureFreeSpace } from './download-disk.js';
import { DOWNLOAD_CODES, DownloadFailure } from './download-errors.js';
import { PartialDownload } from './download-partial.js';
import { reportProgress, type DownloadProgress, type DownloadResult } from './download.js';
import { writeAll } from './download-sink.js';

/** What a chunk download needs of the MQTT sync. */
export interface ChunkChannel {
  subscribe(filter: string, handler: MessageHandler): void;
  unsubscribe(filter: string): void;
}

export interface MqttDownloadOptions {
  channel: ChunkChannel;
  topicPrefix: string;
  sha256: string;
  bytes: number;
  dest: string;
  partDir?: string;
  /** Chunks asked for at once; at most this many are held in memory. Default 4. */
  window?: number;
  /** No wanted chunk for this long counts as a failed attempt. */
  idleTimeoutMs: number;
  /** Stalls tolerated before giving up. Default 5. */
  maxAttempts?: number;
  backoff: BackoffOptions;
  minFreeBytes?: number;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Fetches an artifact from its retained chunks (`<prefix>/artifacts/<sha256>/<i>`, see
 * `edgectl publish --via mqtt`), for plants where only the broker is reachable. The same
 * guarantees as the HTTP download: bytes go to `<name>.part`, hashed as they are written,
 * never past the manifest's length, renamed to `dest` only when the sha256 matches. A cut
 * connection or a restart resumes at the first chunk not fully on disk: chunks have a fixed
 * size, so the partial is cut back to a chunk boundary and the rest asked for again.
 */
export async function downloadArtifactOverMqtt(opts: MqttDownloadOptions): Promise<DownloadResult> {
  if (!/^[0-9a-f]{64}$/.test(opts.sha256)) throw new DownloadFailure(DOWNLOAD_CODES.options, `sha256 must be 64 lowercase hex digits, got "${opts.sha256}"`, 'stop');
  if (!Number.isSafeInteger(opts.bytes) || opts.bytes <= 0) throw new DownloadFailure(DOWNLOAD_CODES.options, `bytes must be a whole number > 0, got ${opts.bytes}`, 'stop');
  const partDir = opts.partDir ?? dirname(opts.dest);
  const where = `mqtt ${artifactChunkTopic(opts.topicPrefix, opts.sha256, 0).replace(/\/0$/, '/<i>')}`;
  const log = opts.log.child({ component: 'download', via: 'mqtt' });
  const partial = new PartialDownload({ dest: opts.dest, partDir, artifact: { sha256: opts.sha256, bytes: opts.bytes }, log });
  let resumedFrom: number;
  try {
    await mkdir(partDir, { recursive: true });
    await mkdir(dirname(opts.dest), { recursive: true });
    const size = await partial.adopt();
    resumedFrom = size - (size % ARTIFACT_CHUNK_BYTES);
    if (resumedFrom !== size) await truncate(partial.partPath, resumedFrom);
    await ensureFreeSpace({ dir: partDir, bytes: opts.bytes, alreadyDownloaded: resumedFrom, minFreeBytes: opts.minFreeBytes ?? 0 });
  } catch (err) {
    if (err instanceof DownloadFailure) throw err;
    throw new DownloadFailure(DOWNLOAD_CODES.io, `cannot prepare the download of ${opts.dest}: ${(err as Error).message}`, 'stop', { cause: err });
  }
  const { hash, size } = await partial.hashSoFar();
  log.info({ dest: opts.dest, bytes: opts.bytes, sha256: opts.sha256, resumedFrom: size }, 'download over MQTT starting');

  const receiver = new ChunkReceiver(opts, size / ARTIFACT_CHUNK_BYTES);
  const fh = await open(partial.partPath, 'a');
  let stalls = 0;
  try {
    receiver.start();
    const backoff = new Backoff(opts.backoff);
    const wait = opts.sleep ?? sleep;
    for (;;) {
      const got = await receiver.next();
      if (got === 'done') break;
      if (got === 'aborted') throw new DownloadFailure(DOWNLOAD_CODES.aborted, 'download over MQTT aborted; the partial file is kept for a later resume', 'stop', { retryable: true });
      if (got === 'stalled') {
        stalls++;
        const message = `${where}: chunk ${receiver.wanted} of ${receiver.count} did not arrive within ${opts.idleTimeoutMs} ms`;
        log.warn({ stalls, maxAttempts: opts.maxAttempts ?? 5 }, message);
        if (stalls >= (opts.maxAttempts ?? 5)) throw new DownloadFailure(DOWNLOAD_CODES.stalled, `${message} (gave up after ${stalls} attempts)`, 'stop', { retryable: true });
        receiver.pause();
        await wait(backoff.next(), opts.signal);
        receiver.start();
        continue;
      }
      hash.update(got);
      await writeAll(fh, got);
      reportProgress(opts.onProgress, { bytes: receiver.received, total: opts.bytes, url: where }, log);
    }
  } catch (err) {
    if (err instanceof DownloadFailure) throw err;
    if (opts.signal?.aborted) throw new DownloadFailure(DOWNLOAD_CODES.aborted, 'download over MQTT aborted; the partial file is kept', 'stop', { retryable: true });
    throw new DownloadFailure(DOWNLOAD_CODES.io, `cannot write the download of ${opts.dest}: ${(err as Error).message}`, 'stop', { cause: err });
  } finally {
    receiver.pause();
    await fh.close();
  }
  const digest = hash.digest('hex');
  if (digest !== opts.sha256) {
    await partial.discard();
    throw new DownloadFailure(DOWNLOAD_CODES.sha256, `${where}: the chunks hash to ${digest}, the manifest says ${opts.sha256}; the partial was deleted`, 'stop');
  }
  await partial.promote();
  log.info({ dest: opts.dest, stalls, resumedFrom: size }, 'download over MQTT verified and in place');
  return { path: opts.dest, bytes: opts.bytes, sha256: opts.sha256, resumedFrom: size, attempts: stalls + 1, url: where };
}

type Next = Buffer | 'done' | 'stalled' | 'aborted';

/**
 * Keeps a window of chunk subscriptions open and hands the chunks out in order. A retained
 * chunk arrives on subscribe, and again after a reconnect (the sync subscribes afresh), so
 * duplicates and chunks from before the wanted one are ignored.
 */
class ChunkReceiver {
  readonly count: number;
  /** Index of the next chunk to hand out. */
  wanted: number;
  private readonly held = new Map<number, Buffer>();
  private readonly subscribed = new Set<number>();
  private waiter: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failure: DownloadFailure | undefined;

  constructor(
    private readonly opts: MqttDownloadOptions,
    first: number,
  ) {
    this.count = artifactChunkCount(opts.bytes);
    this.wanted = first;
  }

  get received(): number {
    return Math.min(this.opts.bytes, this.wanted * ARTIFACT_CHUNK_BYTES);
  }

  start(): void {
    this.fill();
  }

  /** Drops every subscription; the chunks held stay (they are still valid). */
  pause(): void {
    for (const i of this.subscribed) this.opts.channel.unsubscribe(this.topic(i));
    this.subscribed.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The next chunk in order, or why there is none. */
  next(): Promise<Next> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.wanted >= this.count) return Promise.resolve('done');
    if (this.opts.signal?.aborted) return Promise.resolve('aborted');
    const ready = this.take();
    if (ready) return Promise.resolve(ready);
    return new Promise<Next>((resolve, reject) => {
      const onAbort = () => settle('aborted');
      const settle = (n: Next | DownloadFailure) => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.waiter = undefined;
        this.opts.signal?.removeEventListener('abort', onAbort);
        if (n instanceof DownloadFailure) reject(n);
        else resolve(n);
      };
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.timer = setTimeout(() => settle('stalled'), this.opts.idleTimeoutMs);
      this.waiter = () => {
        if (this.failure) return settle(this.failure);
        const chunk = this.take();
        if (chunk) settle(chunk);
      };
    });
  }

  private take(): Buffer | undefined {
    const chunk = this.held.get(this.wanted);
    if (!chunk) return undefined;
    this.held.delete(this.wanted);
    this.wanted++;
    this.fill();
    return chunk;
  }

  private fill(): void {
    const window = Math.max(1, this.opts.window ?? 4);
    for (const i of this.subscribed) {
      if (i < this.wanted) {
        this.opts.channel.unsubscribe(this.topic(i));
        this.subscribed.delete(i);
      }
    }
    for (let i = this.wanted; i < Math.min(this.count, this.wanted + window); i++) {
      if (this.subscribed.has(i) || this.held.has(i)) continue;
      this.subscribed.add(i);
      this.opts.channel.subscribe(this.topic(i), (_topic, payload) => this.onChunk(i, payload));
    }
  }

  private onChunk(index: number, payload: Buffer): void {
    // An empty retained message means the chunk was withdrawn; wait for it to come back.
    if (payload.length === 0 || index < this.wanted || this.held.has(index) || !this.subscribed.has(index)) return;
    const expected = index === this.count - 1 ? this.opts.bytes - index * ARTIFACT_CHUNK_BYTES : ARTIFACT_CHUNK_BYTES;
    if (payload.length > ARTIFACT_CHUNK_MAX_BYTES || payload.length !== expected) {
      this.failure ??= new DownloadFailure(
        payload.length > expected ? DOWNLOAD_CODES.tooLong : DOWNLOAD_CODES.sha256,
        `chunk ${index} of artifact ${this.opts.sha256.slice(0, 12)}… has ${payload.length} bytes; the manifest's length means ${expected}`,
        'stop',
      );
    } else {
      // Copied: the sync may reuse the buffer it handed over.
      this.held.set(index, Buffer.from(payload));
      this.opts.channel.unsubscribe(this.topic(index));
      this.subscribed.delete(index);
    }
    this.waiter?.();
  }

  private topic(i: number): string {
    return artifactChunkTopic(this.opts.topicPrefix, this.opts.sha256, i);
  }
}
