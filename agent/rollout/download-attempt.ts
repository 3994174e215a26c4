import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'got';
import type { Logger } from 'pino';
import { DOWNLOAD_CODES, DownloadFailure, safeUrl } from './download-errors.js';
import type { ArtifactIdentity, PartialDownload } from './download-partial.js';
import { ArtifactSink } from './download-sink.js';

/** Client TLS material, already read from disk. */
export interface ClientTls {
  certificateAuthority?: Buffer;
  certificate?: Buffer;
  key?: Buffer;
}

export interface AttemptOptions {
  url: string;
  artifact: ArtifactIdentity;
  partial: PartialDownload;
  timeoutMs: { connect: number; idle: number };
  headers: Record<string, string>;
  tls: ClientTls | undefined;
  signal: AbortSignal | undefined;
  onBytes: (size: number) => void;
  log: Logger;
}

/** The partial now holds exactly the artifact, verified; `resumedFrom` bytes of it were there before. */
export interface AttemptResult {
  resumedFrom: number;
}

/** What a response lets this attempt do with the partial it already has. */
type Plan = { kind: 'append'; start: number } | { kind: 'restart' } | { kind: 'verify-only' } | { kind: 'start-over'; why: string };

/**
 * One request for the rest of the artifact: asks for the bytes after the partial's end,
 * appends (or restarts on a server that ignores Range), and verifies length and sha256
 * when the body ends. Throws a `DownloadFailure` saying how far the failure reaches.
 */
export async function fetchRemainder(opts: AttemptOptions): Promise<AttemptResult> {
  const { url, artifact, partial, log } = opts;
  let { hash, size } = await partial.hashSoFar();
  // Range and encoding are the resume protocol's; a caller's header must not bend them.
  const headers: Record<string, string> = Object.fromEntries(Object.entries(opts.headers).filter(([k]) => !/^(range|accept-encoding|if-range)$/i.test(k)));
  headers['accept-encoding'] = 'identity';
  if (size > 0) headers.range = `bytes=${size}-`;

  // Loaded on the first download: got is about 20 MB of an idle agent's memory otherwise.
  const { default: got } = await import('got');
  const request = got.stream(url, {
    headers,
    retry: { limit: 0 }, // ours resume from disk; got's would start over
    timeout: { connect: opts.timeoutMs.connect, socket: opts.timeoutMs.idle },
    throwHttpErrors: false,
    decompress: false,
    strictContentLength: true,
    signal: opts.signal,
    https: opts.tls,
  });
  const response = await responseOf(request);
  let plan: Plan;
  try {
    plan = planFor(response, size, artifact, url);
  } catch (err) {
    request.destroy(); // the body is not wanted; free the connection now
    throw err;
  }
  if (plan.kind === 'start-over') {
    request.destroy();
    await partial.discard();
    throw new DownloadFailure(DOWNLOAD_CODES.http, plan.why, 'retry', { retryable: true });
  }
  if (plan.kind === 'verify-only') {
    request.destroy();
  } else {
    let start = size;
    if (plan.kind === 'restart') {
      if (size > 0) log.info({ url: safeUrl(url), discarded: size }, 'server ignored Range: restarting from zero');
      hash = createHash('sha256');
      start = 0;
    }
    const sink = new ArtifactSink({ partPath: partial.partPath, mode: start > 0 ? 'append' : 'truncate', hash, start, bytes: artifact.bytes, onBytes: opts.onBytes });
    try {
      await pipeline(request, sink);
    } finally {
      await sink.fileClosed;
    }
    if (start + sink.received < artifact.bytes) {
      // A clean end short of a length the headers promised is caught by got; this one had no promise.
      throw new DownloadFailure(DOWNLOAD_CODES.interrupted, `${safeUrl(url)}: the body ended after ${start + sink.received} of ${artifact.bytes} bytes`, 'retry', { retryable: true });
    }
    size = start + sink.received;
  }
  const sha256 = hash.digest('hex');
  if (size !== artifact.bytes || sha256 !== artifact.sha256) {
    // Blame is unclear when old bytes were reused (a power cut may have torn them): retry from zero.
    const resumed = plan.kind === 'append' && plan.start > 0;
    throw new DownloadFailure(
      DOWNLOAD_CODES.sha256,
      `${safeUrl(url)}: the artifact does not verify: ${size} bytes with sha256 ${sha256}, the manifest says ${artifact.bytes} bytes with sha256 ${artifact.sha256}`,
      resumed || plan.kind === 'verify-only' ? 'retry' : 'next-url',
    );
  }
  return { resumedFrom: plan.kind === 'restart' ? 0 : plan.kind === 'append' ? plan.start : size };
}

/** The response head, or the request's error; no body byte is consumed. */
function responseOf(request: Request): Promise<Response> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      request.off('response', onResponse);
      reject(err);
    };
    const onResponse = (response: Response) => {
      request.off('error', onError);
      // Errors between now and the pipeline being attached must not go unhandled.
      request.on('error', () => {});
      resolve(response);
    };
    request.once('error', onError);
    request.once('response', onResponse);
  });
}

/** Decides from status and headers alone, before a byte is written. */
function planFor(response: Response, size: number, artifact: ArtifactIdentity, url: string): Plan {
  const where = safeUrl(url);
  const status = response.statusCode;
  const { bytes } = artifact;
  if (status === 200) {
    const length = declaredLength(response.headers);
    checkTotal(length, bytes, where);
    return { kind: 'restart' };
  }
  if (status === 206) {
    const range = parseContentRange(response.headers['content-range']);
    if (size === 0 || !range || range.start === undefined) {
      throw new DownloadFailure(DOWNLOAD_CODES.http, `${where}: 206 with Content-Range "${response.headers['content-range'] ?? ''}" for Range bytes=${size}-`, 'next-url');
    }
    checkTotal(range.total, bytes, where);
    if (range.end !== undefined && range.end >= bytes) throw new DownloadFailure(DOWNLOAD_CODES.tooLong, `${where}: Content-Range ends at byte ${range.end}, past the manifest's ${bytes} bytes`, 'next-url');
    if (range.start !== size) throw new DownloadFailure(DOWNLOAD_CODES.http, `${where}: asked for bytes from ${size}, got a range from ${range.start}`, 'next-url');
    return { kind: 'append', start: size };
  }
  if (status === 416) {
    if (size === bytes) return { kind: 'verify-only' };
    checkTotal(parseContentRange(response.headers['content-range'])?.total, bytes, where);
    // The server claims the right length yet refuses a range inside it: trust neither side's bytes.
    return { kind: 'start-over', why: `${where}: 416 for Range bytes=${size}- of a ${bytes}-byte artifact; the partial is discarded` };
  }
  const transient = status >= 500 || status === 408 || status === 429;
  throw new DownloadFailure(DOWNLOAD_CODES.http, `${where}: HTTP ${status}`, transient ? 'retry' : 'next-url', { retryable: transient });
}

/** A server announcing another length serves another file: refuse before writing anything. */
function checkTotal(total: number | undefined, bytes: number, where: string): void {
  if (total === undefined || total === bytes) return;
  if (total > bytes) throw new DownloadFailure(DOWNLOAD_CODES.tooLong, `${where}: the server's file is ${total} bytes, the manifest says ${bytes}; download aborted at the length`, 'next-url');
  throw new DownloadFailure(DOWNLOAD_CODES.sha256, `${where}: the server's file is ${total} bytes, the manifest says ${bytes}`, 'next-url');
}

function declaredLength(headers: IncomingHttpHeaders): number | undefined {
  const raw = headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

// `bytes START-END/TOTAL` or `bytes */TOTAL` (416); a `*` total is unknown.
function parseContentRange(raw: string | undefined): { start?: number; end?: number; total?: number } | undefined {
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(raw?.trim() ?? '');
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || s === '*' ? undefined : Number(s));
  return { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
}
