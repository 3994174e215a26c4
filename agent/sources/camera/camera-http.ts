import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Got } from 'got';
import { AgentError, errorMessage } from '../../errors.js';
import { DigestSession, parseDigestChallenge } from './digest-auth.js';

export interface CameraHttpOptions {
  url: string;
  auth?: { scheme: 'basic' | 'digest'; username: string; password: string } | undefined;
  timeoutMs: number;
  /** PEM of the camera's CA, already read. */
  ca?: string | undefined;
  rejectUnauthorized: boolean;
}

/** A response whose headers arrived; the body is still to be read from `body`. */
export interface CameraResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

let gotModule: Promise<Got> | undefined;

/** got is loaded on the first request: a gateway without HTTP cameras never pays for it. */
function loadGot(): Promise<Got> {
  gotModule ??= import('got').then((m) => m.got);
  return gotModule;
}

/**
 * GET requests to one camera URL with its credentials. Digest answers the camera's
 * challenge and keeps the nonce for the next requests (nc counts up), so a poll costs one
 * round trip; a 401 (stale or new nonce) is answered once with the fresh challenge.
 */
export class CameraHttp {
  private digest: DigestSession | undefined;
  private readonly target: string;

  constructor(private readonly opts: CameraHttpOptions) {
    const u = new URL(opts.url);
    this.target = `${u.pathname}${u.search}`;
  }

  /** Opens the response; rejects with E_CAMERA_HTTP on a status other than 2xx (after the auth round). */
  async get(signal: AbortSignal): Promise<CameraResponse> {
    let res = await this.open(signal);
    if (res.statusCode === 401 && this.opts.auth?.scheme === 'digest') {
      const challenge = parseDigestChallenge(res.headers['www-authenticate']);
      res.body.destroy();
      if (!challenge) throw new AgentError('E_CAMERA_AUTH', `${this.describe()}: 401 without a Digest challenge the agent can answer (${String(res.headers['www-authenticate'] ?? 'none')})`, { retryable: true });
      this.digest = new DigestSession(challenge);
      res = await this.open(signal);
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      res.body.destroy();
      if (res.statusCode === 401 || res.statusCode === 403) this.digest = undefined;
      const why = res.statusCode === 401 ? ' (check the camera credentials)' : '';
      throw new AgentError('E_CAMERA_HTTP', `${this.describe()}: HTTP ${res.statusCode}${why}`, { retryable: true });
    }
    return res;
  }

  /** The URL without query (which may carry tokens), for logs and events. */
  describe(): string {
    const u = new URL(this.opts.url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  }

  private async open(signal: AbortSignal): Promise<CameraResponse> {
    const got = await loadGot();
    const { timeoutMs, auth } = this.opts;
    const headers: Record<string, string> = { 'user-agent': 'edge-agent' };
    if (auth?.scheme === 'basic') headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (auth?.scheme === 'digest' && this.digest) headers.authorization = this.digest.authorization({ method: 'GET', uri: this.target, username: auth.username, password: auth.password });
    const body = got.stream(this.opts.url, {
      headers,
      throwHttpErrors: false,
      retry: { limit: 0 },
      followRedirect: false,
      decompress: false,
      timeout: { lookup: timeoutMs, connect: timeoutMs, secureConnect: timeoutMs, send: timeoutMs, response: timeoutMs },
      https: { rejectUnauthorized: this.opts.rejectUnauthorized, ...(this.opts.ca ? { certificateAuthority: this.opts.ca } : {}) },
    });
    const onAbort = () => body.destroy(new AgentError('E_ABORTED', 'aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    body.once('close', () => signal.removeEventListener('abort', onAbort));
    return new Promise<CameraResponse>((resolve, reject) => {
      body.once('response', (r: { statusCode: number; headers: IncomingHttpHeaders }) => resolve({ statusCode: r.statusCode, headers: r.headers, body }));
      // Stays attached: an error after the headers is the body reader's, but must never go unheard.
      body.on('error', (err) => reject(new AgentError('E_CAMERA_HTTP', `${this.describe()}: ${errorMessage(err)}`, { retryable: true, cause: err })));
    });
  }
}

/** What a snapshot or MJPEG camera's config says about reaching it. */
export interface HttpCameraConfig {
  url: string;
  auth?: { scheme: 'basic' | 'digest'; username: string; password?: string | undefined; passwordFile?: string | undefined } | undefined;
  timeoutMs: number;
  ca?: string | undefined;
  rejectUnauthorized: boolean;
}

/** The HTTP client of a camera, its password and CA read from their files (paths resolved by `resolvePath`). */
export function cameraHttp(config: HttpCameraConfig, resolvePath: (path: string) => string): CameraHttp {
  const { auth } = config;
  let ca: string | undefined;
  if (config.ca) {
    const file = resolvePath(config.ca);
    try {
      ca = readFileSync(file, 'utf8');
    } catch (err) {
      throw new AgentError('E_CAMERA_CONFIG', `camera CA file ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return new CameraHttp({
    url: config.url,
    ...(auth ? { auth: { scheme: auth.scheme, username: auth.username, password: cameraPassword(auth, resolvePath) } } : {}),
    timeoutMs: config.timeoutMs,
    ...(ca ? { ca } : {}),
    rejectUnauthorized: config.rejectUnauthorized,
  });
}

/** The camera's password: inline (or from the environment overlay), or read from its file. */
export function cameraPassword(auth: { password?: string | undefined; passwordFile?: string | undefined }, resolve: (path: string) => string): string {
  if (auth.password !== undefined) return auth.password;
  const file = resolve(auth.passwordFile!);
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new AgentError('E_CAMERA_CONFIG', `camera password file ${file}: ${errorMessage(err)}`, { cause: err });
  }
}
