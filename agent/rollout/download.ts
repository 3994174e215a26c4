import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Backoff, sleep, type BackoffOptions } from '../lifecycle/backoff.js';
import { fetchRemainder, type ClientTls } from './download-attempt.js';
import { ensureFreeSpace } from './download-disk.js';
import { DOWNLOAD_CODES, DownloadFailure, safeUrl, toDownloadFailure } from './download-errors.js';
import { PartialDownload, type ArtifactIdentity } from './download-partial.js';

export { DOWNLOAD_CODES, DownloadFailure } from './download-errors.js';

export interface DownloadProgress {
  /** Bytes of the artifact on disk so far, resumed ones included. */
  bytes: number;
  total: number;
  url: string;
}

export interface DownloadOptions {
  /** Mirrors of the same artifact, tried in order, then again from the first. */
  urls: string[];
  /** From the signed manifest: the only bytes that may end up at `dest`. */
  sha256: string;
  bytes: number;
  /** Final path; it only ever holds a verified artifact. */
  dest: string;
  /** Where `<name>.part` lives; on the same filesystem as `dest` (the rename must be atomic). Default: dirname(dest). */
  partDir?: string;
  /** HTTP requests in all, over all URLs. Default 5. */
  maxAttempts?: number;
  backoff: BackoffOptions;
  /** `idle`: no byte for this long (headers or body) means the server stalled. */
  timeoutMs: { connect: number; idle: number };
  /** Aborting keeps the partial for a later call to resume. */
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  log: Logger;
  /** Paths of PEM files, for a private CA and mutual TLS. */
  tls?: { ca?: string; cert?: string; key?: string };
  headers?: Record<string, string>;
  /** Disk to leave free beyond the artifact. Default 0. */
  minFreeBytes?: number;
  /** Waits between attempts; injectable so tests control time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes reused from an earlier partial by the attempt that completed. */
  resumedFrom: number;
  /** HTTP requests made, the successful one included. */
  attempts: number;
  /** The URL the completing attempt used. */
  url: string;
}

/**
 * Fetches an artifact to `dest`, verified against the manifest's length and sha256.
 * Interrupted transfers resume from the partial on disk with HTTP Range; a partial is
 * never at `dest`. Failures reject with an `AgentError` (codes in `DOWNLOAD_CODES`).
 */
export async function downloadArtifact(opts: DownloadOptions): Promise<DownloadResult> {
  const artifact = validated(opts);
  const log = opts.log.child({ component: 'download' });
  const partDir = opts.partDir ?? dirname(opts.dest);
  const maxAttempts = opts.maxAttempts ?? 5;
  const tls = await readTls(opts.tls);
  if (opts.signal?.aborted) throw abortedError();
  const partial = new PartialDownload({ dest: opts.dest, partDir, artifact, log });
  let already: number;
  try {
    await mkdir(partDir, { recursive: true });
    await mkdir(dirname(opts.dest), { recursive: true });
    already = await partial.adopt();
    await ensureFreeSpace({ dir: partDir, bytes: artifact.bytes, alreadyDownloaded: already, minFreeBytes: opts.minFreeBytes ?? 0 });
  } catch (err) {
    throw toDownloadFailure(err, opts.urls[0] as string);
  }
  log.info({ dest: opts.dest, bytes: artifact.bytes, sha256: artifact.sha256, resumable: already, urls: opts.urls.map(safeUrl) }, 'download starting');

  const backoff = new Backoff(opts.backoff);
  const wait = opts.sleep ?? sleep;
  const ruledOut = new Set<number>();
  let index = 0;
  let last: DownloadFailure | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (opts.signal?.aborted) throw abortedError();
    const url = opts.urls[index] as string;
    try {
      const { resumedFrom } = await fetchRemainder({
        url,
        artifact,
        partial,
        timeoutMs: opts.timeoutMs,
        headers: opts.headers ?? {},
        tls,
        signal: opts.signal,
        onBytes: (bytes) => reportProgress(opts.onProgress, { bytes, total: artifact.bytes, url }, log),
        log,
      });
      await partial.promote();
      log.info({ dest: opts.dest, url: safeUrl(url), attempts: attempt, resumedFrom }, 'download verified and in place');
      return { path: opts.dest, bytes: artifact.bytes, sha256: artifact.sha256, resumedFrom, attempts: attempt, url };
    } catch (err) {
      const failure = toDownloadFailure(err, url, opts.signal);
      last = failure;
      // Bytes that are not the artifact must not be resumed; on a full disk the outbox needs the room more.
      const unwanted = failure.code === DOWNLOAD_CODES.tooLong || failure.code === DOWNLOAD_CODES.sha256 || failure.code === DOWNLOAD_CODES.diskSpace;
      if (unwanted) await partial.discard().catch((discardErr: unknown) => log.warn({ err: discardErr, part: partial.partPath }, 'cannot delete the partial download'));
      const fields = { err: failure, code: failure.code, url: safeUrl(url), attempt, maxAttempts };
      if (failure.code === DOWNLOAD_CODES.aborted) log.info(fields, 'download aborted; the partial is kept');
      else log.warn(fields, 'download attempt failed');
      if (failure.scope === 'stop') throw failure;
      if (failure.scope === 'next-url') ruledOut.add(index);
      const next = nextUrl(index, ruledOut, opts.urls.length);
      if (next === undefined) throw givenUp(failure, attempt, 'no URL left to try');
      index = next;
      if (failure.scope === 'retry' && attempt < maxAttempts) await wait(backoff.next(), opts.signal);
    }
  }
  throw givenUp(last as DownloadFailure, maxAttempts, 'attempts exhausted');
}

/** The next URL after `from` not ruled out, wrapping round to the first. */
function nextUrl(from: number, ruledOut: Set<number>, count: number): number | undefined {
  for (let step = 1; step <= count; step++) {
    const i = (from + step) % count;
    if (!ruledOut.has(i)) return i;
  }
  return undefined;
}

/** The last attempt's failure, final now: same code, so callers match one list. */
function givenUp(last: DownloadFailure, attempts: number, why: string): DownloadFailure {
  return new DownloadFailure(last.code, `${last.message} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${why})`, 'stop', { retryable: last.retryable, cause: last });
}

function abortedError(): DownloadFailure {
  return new DownloadFailure(DOWNLOAD_CODES.aborted, 'download aborted; the partial file is kept for a later resume', 'stop', { retryable: true });
}

/** A progress listener's mistake must not break the download. */
export function reportProgress(listener: DownloadOptions['onProgress'], progress: DownloadProgress, log: Logger): void {
  if (!listener) return;
  try {
    listener(progress);
  } catch (err) {
    log.warn({ err }, 'download progress listener threw');
  }
}

function validated(opts: DownloadOptions): ArtifactIdentity {
  const fail = (why: string) => new DownloadFailure(DOWNLOAD_CODES.options, `download of ${opts.dest}: ${why}`, 'stop');
  if (opts.urls.length === 0) throw fail('no URL given');
  for (const url of opts.urls) {
    if (!/^https?:\/\/.+/i.test(url)) throw fail(`not an http(s) URL: ${safeUrl(url)}`);
  }
  if (!/^[0-9a-f]{64}$/i.test(opts.sha256)) throw fail(`sha256 must be 64 hex digits, got "${opts.sha256}"`);
  if (!Number.isSafeInteger(opts.bytes) || opts.bytes < 0) throw fail(`bytes must be a whole number ≥ 0, got ${opts.bytes}`);
  const maxAttempts = opts.maxAttempts ?? 5;
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw fail(`maxAttempts must be ≥ 1, got ${maxAttempts}`);
  return { sha256: opts.sha256.toLowerCase(), bytes: opts.bytes };
}

async function readTls(paths: DownloadOptions['tls']): Promise<ClientTls | undefined> {
  if (!paths || (!paths.ca && !paths.cert && !paths.key)) return undefined;
  const read = async (what: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return await readFile(path);
    } catch (err) {
      throw new DownloadFailure(DOWNLOAD_CODES.tls, `cannot read the TLS ${what} ${path}: ${(err as Error).message}`, 'stop', { cause: err });
    }
  };
  const tls: ClientTls = {};
  const ca = await read('CA', paths.ca);
  const cert = await read('certificate', paths.cert);
  const key = await read('key', paths.key);
  if (ca) tls.certificateAuthority = ca;
  if (cert) tls.certificate = cert;
  if (key) tls.key = key;
  return tls;
}
