import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { AgentError } from '../errors.js';
import type { Component } from '../lifecycle/component.js';
import type { StatusSnapshot } from './snapshot.js';

export interface StatusServerOptions {
  host: string;
  port: number;
  snapshot: () => StatusSnapshot;
  log: Logger;
}

/** The gateway's local HTTP face. Read-only: it answers GET and HEAD and nothing else. */
export class StatusServer implements Component {
  readonly name = 'status';
  private server: Server | undefined;

  constructor(private readonly opts: StatusServerOptions) {}

  /** The URL the server listens on, once started. */
  get url(): string | undefined {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) return undefined;
    const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
    return `http://${host}:${addr.port}`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new AgentError('E_STATUS_LISTEN', `status server cannot listen on ${this.opts.host}:${this.opts.port}: ${err.code ?? err.message}`, { cause: err })),
      );
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.opts.log.info({ url: this.url }, 'status server listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, { error: 'read-only: only GET is allowed' }, { allow: 'GET, HEAD' });
    }
    const path = (req.url ?? '/').split('?')[0];
    try {
      switch (path) {
        case '/healthz':
          return send(res, 200, { ok: true });
        case '/api/status':
          return send(res, 200, this.opts.snapshot());
        default:
          return send(res, 404, { error: `no such page: ${path}` });
      }
    } catch (err) {
      this.opts.log.error({ err, path }, 'status request failed');
      send(res, 500, { error: 'internal error' });
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : json);
}
