import { AgentError } from '../errors.js';

/**
 * How much a failed attempt spoils: `retry` may ask any URL again (after a backoff),
 * `next-url` rules this URL out for the rest of the download, `stop` ends the download.
 */
export type FailureScope = 'retry' | 'next-url' | 'stop';

/** A failed download attempt: an `AgentError` that also says how far the failure reaches. */
export class DownloadFailure extends AgentError {
  readonly scope: FailureScope;

  constructor(code: string, message: string, scope: FailureScope, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, opts);
    this.scope = scope;
  }
}

/** Codes a download can end with; the rollout state machine matches on these. */
export const DOWNLOAD_CODES = {
  /** Not enough free disk for the rest of the artifact plus the headroom (retryable: space may come back). */
  diskSpace: 'E_DISK_SPACE',
  /** No byte arrived within `timeoutMs.idle`, waiting for headers or body. */
  stalled: 'E_DOWNLOAD_STALLED',
  /** The connection was cut or reset mid-body; what arrived is kept and resumed. */
  interrupted: 'E_DOWNLOAD_INTERRUPTED',
  /** The server could not be reached (refused, DNS, connect timeout). */
  connect: 'E_DOWNLOAD_CONNECT',
  /** An HTTP status or header the download cannot use (4xx, 5xx, a wrong Content-Range). */
  http: 'E_DOWNLOAD_HTTP',
  /** The TLS handshake failed or the configured CA/cert/key could not be read. */
  tls: 'E_DOWNLOAD_TLS',
  /** The server sent, or announced, more bytes than the manifest's length. */
  tooLong: 'E_DOWNLOAD_TOO_LONG',
  /** The bytes are not the manifest's: wrong length or wrong sha256. */
  sha256: 'E_DOWNLOAD_SHA256',
  /** The local filesystem failed (other than running out of space). */
  io: 'E_DOWNLOAD_IO',
  /** The caller's signal aborted the download; the partial file is kept for a later resume. */
  aborted: 'E_ABORTED',
  /** The options cannot describe a download (no URL, a malformed sha256, ...). */
  options: 'E_DOWNLOAD_OPTIONS',
} as const;

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN']);
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
const STALL_EVENTS = new Set(['socket', 'read', 'response', 'request']);

/**
 * Whether got threw this (its RequestError or a subclass). Told by shape, not `instanceof`,
 * so that got is loaded only when a download starts.
 */
function isGotError(err: unknown): boolean {
  return err instanceof Error && 'options' in err && 'timings' in err && typeof (err as { code?: unknown }).code === 'string';
}

function isTlsCode(code: string): boolean {
  return code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|UNABLE_TO|SELF_SIGNED|DEPTH_ZERO/.test(code);
}

/** The URL as it may appear in logs and errors: no credentials, no query (it may carry a token). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(malformed URL)';
  }
}

/** Turns whatever an attempt threw into a `DownloadFailure` with a stable code and scope. */
export function toDownloadFailure(err: unknown, url: string, signal?: AbortSignal): DownloadFailure {
  if (err instanceof DownloadFailure) return err;
  const where = safeUrl(url);
  if (signal?.aborted) return new DownloadFailure(DOWNLOAD_CODES.aborted, `download from ${where} aborted`, 'stop', { retryable: true, cause: err });
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : '';
  const message = err instanceof Error ? err.message : String(err);

  if (isGotError(err)) {
    if (code === 'ERR_ABORTED') return new DownloadFailure(DOWNLOAD_CODES.aborted, `download from ${where} aborted`, 'stop', { retryable: true, cause: err });
    if (code === 'ETIMEDOUT') {
      const event = (err as { event?: string }).event ?? '';
      if (STALL_EVENTS.has(event)) return new DownloadFailure(DOWNLOAD_CODES.stalled, `${where}: no data for too long (${message})`, 'retry', { retryable: true, cause: err });
      return new DownloadFailure(DOWNLOAD_CODES.connect, `${where}: ${message}`, 'retry', { retryable: true, cause: err });
    }
    if (CONNECT_CODES.has(code)) return new DownloadFailure(DOWNLOAD_CODES.connect, `${where}: cannot connect (${code})`, 'retry', { retryable: true, cause: err });
    if (isTlsCode(code)) return new DownloadFailure(DOWNLOAD_CODES.tls, `${where}: TLS failed (${code}: ${message})`, 'next-url', { cause: err });
    // Resets, premature ends, Content-Length mismatches, parser errors: the link, not the artifact.
    return new DownloadFailure(DOWNLOAD_CODES.interrupted, `${where}: connection interrupted (${code || message})`, 'retry', { retryable: true, cause: err });
  }
  // Anything else comes from our side of the pipe: the partial file.
  if (DISK_FULL_CODES.has(code)) return new DownloadFailure(DOWNLOAD_CODES.diskSpace, `disk full while writing the download from ${where} (${code})`, 'stop', { retryable: true, cause: err });
  if (typeof (err as { syscall?: unknown }).syscall === 'string') return new DownloadFailure(DOWNLOAD_CODES.io, `cannot write the download from ${where}: ${message}`, 'stop', { cause: err });
  return new DownloadFailure(DOWNLOAD_CODES.interrupted, `${where}: ${message}`, 'retry', { retryable: true, cause: err });
}
