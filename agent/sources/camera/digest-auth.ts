import { createHash, randomBytes } from 'node:crypto';

/*
 * HTTP Digest access authentication (RFC 7616), client side, as IP cameras use it:
 * MD5 and SHA-256 (and their -sess variants), qop "auth" or none (RFC 2069 style).
 * npm's digest clients wrap fetch or axios, not got, and are thinly kept, so the
 * few lines the agent needs live here, checked against the RFC's own examples.
 */

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
  /** Undefined when the server offers none (RFC 2069 compatibility). */
  qop?: 'auth';
  stale: boolean;
  userhash: boolean;
}

const ALGORITHMS = new Set(['MD5', 'MD5-SESS', 'SHA-256', 'SHA-256-SESS']);

/**
 * The strongest Digest challenge among `WWW-Authenticate` values, or undefined when the
 * server offers no Digest we can answer (e.g. only qop=auth-int, or SHA-512-256).
 */
export function parseDigestChallenge(headers: string | string[] | undefined): DigestChallenge | undefined {
  const values = headers === undefined ? [] : Array.isArray(headers) ? headers : [headers];
  const found: DigestChallenge[] = [];
  for (const value of values) {
    for (const params of challenges(value)) {
      const algorithm = (params.algorithm ?? 'MD5').toUpperCase();
      if (!ALGORITHMS.has(algorithm) || params.realm === undefined || params.nonce === undefined) continue;
      const qops = params.qop?.split(',').map((q) => q.trim().toLowerCase());
      if (qops && !qops.includes('auth')) continue;
      found.push({
        realm: params.realm,
        nonce: params.nonce,
        ...(params.opaque === undefined ? {} : { opaque: params.opaque }),
        algorithm: algorithm.replace('SESS', 'sess') as DigestChallenge['algorithm'],
        ...(qops ? { qop: 'auth' as const } : {}),
        stale: params.stale?.toLowerCase() === 'true',
        userhash: params.userhash?.toLowerCase() === 'true',
      });
    }
  }
  return found.find((c) => c.algorithm.startsWith('SHA-256')) ?? found[0];
}

/** Each Digest challenge of one header value, as lower-case parameter names to values. */
function challenges(value: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  let current: Record<string, string> | undefined;
  // A scheme token, or a name=value pair with a token or quoted-string value.
  const token = /\s*,?\s*(?:([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))|([A-Za-z0-9!#$%&'*+.^_`|~-]+))/gy;
  let m: RegExpExecArray | null;
  while ((m = token.exec(value)) !== null && m[0].length > 0) {
    if (m[4] !== undefined) {
      current = m[4].toLowerCase() === 'digest' ? {} : undefined;
      if (current) out.push(current);
    } else if (current && m[1] !== undefined) {
      current[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    }
  }
  return out;
}

export interface DigestRequest {
  method: string;
  /** The request target as sent: path and query. */
  uri: string;
  username: string;
  password: string;
}

/**
 * Answers one challenge, counting requests per nonce (`nc`) so repeated polls reuse the
 * nonce without a 401 round trip each time.
 */
export class DigestSession {
  private nc = 0;

  constructor(readonly challenge: DigestChallenge, private readonly cnonce: () => string = () => randomBytes(16).toString('hex')) {}

  /** The `Authorization` header value for `req`. */
  authorization(req: DigestRequest): string {
    const c = this.challenge;
    const hash = (s: string) => createHash(c.algorithm.startsWith('SHA-256') ? 'sha256' : 'md5').update(s, 'utf8').digest('hex');
    const cnonce = this.cnonce();
    const nc = (++this.nc).toString(16).padStart(8, '0');
    let ha1 = hash(`${req.username}:${c.realm}:${req.password}`);
    if (c.algorithm.endsWith('-sess')) ha1 = hash(`${ha1}:${c.nonce}:${cnonce}`);
    const ha2 = hash(`${req.method}:${req.uri}`);
    const response = c.qop ? hash(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`) : hash(`${ha1}:${c.nonce}:${ha2}`);
    const username = c.userhash ? hash(`${req.username}:${c.realm}`) : req.username;
    const parts = [
      `username=${quote(username)}`,
      `realm=${quote(c.realm)}`,
      `uri=${quote(req.uri)}`,
      `algorithm=${c.algorithm}`,
      `nonce=${quote(c.nonce)}`,
      ...(c.qop ? [`nc=${nc}`, `cnonce=${quote(cnonce)}`, 'qop=auth'] : []),
      `response=${quote(response)}`,
      ...(c.opaque === undefined ? [] : [`opaque=${quote(c.opaque)}`]),
      ...(c.userhash ? ['userhash=true'] : []),
    ];
    return `Digest ${parts.join(', ')}`;
  }
}

function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}
