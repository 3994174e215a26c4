import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CameraServerOptions {
  /** Pictures served in turn. */
  pictures: Buffer[];
  /** Credentials the camera asks for, and how. */
  auth?: { scheme: 'basic' | 'digest'; username: string; password: string };
  /** Milliseconds between MJPEG parts. */
  partMs?: number;
  /** MJPEG quirks: bytes of garbage between parts, a Content-Length that lies, none at all. */
  garbage?: boolean;
  contentLength?: 'right' | 'wrong' | 'none';
}

const BOUNDARY = 'camboundary';
const REALM = 'IP Camera';

/**
 * An IP camera as plants have them, on a node:http server the test starts: `/snapshot.jpg`
 * and `/stream.mjpg`, Basic or Digest auth (checked here independently of the agent's
 * client), and the faults a line sees: a stream that stalls, a camera that goes away and
 * comes back on the same address, bad pictures queued for the next requests.
 */
export class CameraServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private stalled = false;
  private readonly nonces = new Set<string>();
  /** Pictures served before the regular ones (e.g. a truncated JPEG), first in first out. */
  readonly queued: Buffer[] = [];
  port = 0;
  /** Every request by path, and their times (ms), for the test to read. */
  readonly requests: Array<{ path: string; at: number; status: number }> = [];
  partsSent = 0;

  constructor(private readonly opts: CameraServerOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (again) on its port; the first time on a free one. */
  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    this.timer = setInterval(() => this.tick(), this.opts.partMs ?? 50);
  }

  /** The camera goes away: connections cut, nothing listens. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const s of this.sockets) s.destroy();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Streams stay open but no more parts are sent (and snapshots hang): a frozen camera. */
  stall(): void {
    this.stalled = true;
  }

  unstall(): void {
    this.stalled = false;
  }

  private picture(): Buffer {
    return this.queued.shift() ?? this.opts.pictures[this.next++ % this.opts.pictures.length]!;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const status = this.authorised(req) ? (path === '/snapshot.jpg' || path === '/stream.mjpg' ? 200 : 404) : 401;
    this.requests.push({ path, at: Date.now(), status });
    if (status === 401) return this.challenge(res);
    if (status === 404) return void res.writeHead(404).end('not found');
    if (this.stalled) return; // the request hangs, as a frozen camera's web server does
    if (path === '/snapshot.jpg') {
      const body = this.picture();
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`, 'cache-control': 'no-cache' });
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
  }

  private tick(): void {
    if (this.stalled || this.streams.size === 0) return;
    const body = this.picture();
    const mode = this.opts.contentLength ?? 'right';
    const length = mode === 'none' ? '' : `Content-Length: ${mode === 'wrong' ? body.length + (this.partsSent % 2 ? 500 : -100) : body.length}\r\n`;
    const garbage = this.opts.garbage ? Buffer.concat([randomBytes(37), Buffer.from([0xff, 0xd8, 0x00, 0xff]), Buffer.from('\r\n--not-the-boundary\r\n')]) : Buffer.alloc(0);
    const part = Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\n${length}\r\n`), body, Buffer.from('\r\n'), garbage]);
    this.partsSent++;
    for (const s of this.streams) s.write(part);
  }

  private challenge(res: ServerResponse): void {
    const auth = this.opts.auth!;
    if (auth.scheme === 'basic') return void res.writeHead(401, { 'www-authenticate': `Basic realm="${REALM}"` }).end();
    const nonce = randomBytes(12).toString('hex');
    this.nonces.add(nonce);
    res.writeHead(401, { 'www-authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}", opaque="cam-opaque", algorithm=MD5` }).end();
  }

  private authorised(req: IncomingMessage): boolean {
    const auth = this.opts.auth;
    if (!auth) return true;
    const header = req.headers.authorization ?? '';
    if (auth.scheme === 'basic') return header === `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (!header.startsWith('Digest ')) return false;
    const p: Record<string, string> = {};
    for (const m of header.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]!] = m[2] ?? m[3] ?? '';
    if (p.username !== auth.username || p.realm !== REALM || !this.nonces.has(p.nonce ?? '') || p.opaque !== 'cam-opaque' || p.uri !== req.url) return false;
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const ha1 = md5(`${auth.username}:${REALM}:${auth.password}`);
    const ha2 = md5(`GET:${p.uri}`);
    return p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`);
  }
}
