import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StoredEvent } from '../buffer/events.js';
import { AgentError, errorMessage } from '../errors.js';
import type { Component } from '../lifecycle/component.js';
import { Exposition } from '../metrics/exposition.js';
import { checkAction } from './auth.js';
import { loadPage, type PageAsset } from './page.js';
import type { HistoryView } from './history.js';
import { BadQuery, eventQuery, historyQuery, predictionQuery } from './query.js';
import type { Readiness } from './readiness.js';
import type { StatusSnapshot } from './snapshot.js';
import type { PredictionDetail, PredictionFilter, PredictionSummary } from './store-view.js';

/** What the server shows; the agent's StatusCollector answers it. */
export interface StatusApi {
  snapshot(): StatusSnapshot;
  readiness(): Readiness;
  metrics(): string;
  predictions(filter: PredictionFilter): PredictionSummary[];
  prediction(seq: number): PredictionDetail | undefined;
  /** The captured image of a prediction, as its detail's `thumbnail.url` points to. */
  predictionInput(seq: number): { mediaType: string; data: Buffer } | undefined;
  events(query: { kind?: string | undefined; limit: number }): { events: StoredEvent[]; kinds: string[] };
  /** The charts' figures over the last minutes. */
  history(query: { minutes: number }): HistoryView;
  /** Starts sampling what `history` charts; answers the function that stops it. */
  startSampling?(): () => void;
}

/** What an authorised operator may ask the agent to do; an action not given answers 501. */
export interface StatusActions {
  rollback?: () => Promise<unknown>;
  capture?: () => Promise<unknown>;
  ackAlarm?: (id: string) => Promise<unknown>;
  /** Attaches a label to a prediction; the body is JSON `{ "seq": N, "label": "...", "by": "..." }`. */
  label?: (body: Buffer) => Promise<unknown>;
}

export interface StatusServerOptions {
  host: string;
  port: number;
  api: StatusApi;
  /** Unlocks POST actions; without it every action answers 403. */
  token: string | undefined;
  actions?: StatusActions;
  log: Logger;
  /** Folder of the page's files; `agent/status/page/` when absent. */
  pageDir?: string;
}

/** Which handler serves an action path, and what to answer while that feature does not exist. */
interface ActionRoute {
  run: (actions: StatusActions) => ((body: Buffer) => Promise<unknown>) | undefined;
  /** Whether the action reads its request body (the others' is read away unread). */
  readsBody?: boolean;
  missing: string;
}

/**
 * The gateway's local HTTP face: the operator's page, its JSON API, `/metrics` and the
 * probes. Every GET only reads; the few actions are POSTs that need the configured token.
 */
export class StatusServer implements Component {
  readonly name = 'status';
  private server: Server | undefined;
  private page: Map<string, PageAsset> | undefined;
  private stopSampling: (() => void) | undefined;

  constructor(private readonly opts: StatusServerOptions) {}

  /** The URL the server listens on, once started. */
  get url(): string | undefined {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) return undefined;
    const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
    return `http://${host}:${addr.port}`;
  }

  async start(): Promise<void> {
    try {
      this.page = loadPage(this.opts.pageDir);
    } catch (err) {
      // The JSON API and the probes matter more than the page: serve them anyway.
      this.opts.log.warn({ err }, 'status page unavailable; serving the API only');
    }
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new AgentError('E_STATUS_LISTEN', `status server cannot listen on ${this.opts.host}:${this.opts.port}: ${err.code ?? err.message}`, { cause: err })),
      );
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.stopSampling = this.opts.api.startSampling?.();
    this.opts.log.info({ url: this.url, actions: this.opts.token === undefined ? 'disabled' : 'token' }, 'status server listening');
  }

  async stop(): Promise<void> {
    this.stopSampling?.();
    this.stopSampling = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    const path = url.pathname;
    if (path.startsWith('/api/actions/')) {
      this.action(req, res, path).catch((err: unknown) => this.failed(res, err, path));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, { error: 'read-only: only GET is allowed here; actions are POST /api/actions/...' }, { allow: 'GET, HEAD' });
    }
    try {
      this.read(res, path, url.searchParams);
    } catch (err) {
      if (err instanceof BadQuery) return send(res, 400, { error: err.message });
      this.failed(res, err, path);
    }
  }

  private read(res: ServerResponse, path: string, q: URLSearchParams): void {
    const { api } = this.opts;
    const asset = this.page?.get(path);
    if (asset) return sendAsset(res, asset);
    switch (path) {
      case '/healthz':
        return send(res, 200, { ok: true });
      case '/readyz': {
        const r = api.readiness();
        return send(res, r.ready ? 200 : 503, r);
      }
      case '/metrics':
        return sendText(res, 200, api.metrics(), Exposition.CONTENT_TYPE);
      case '/api/status':
        return send(res, 200, api.snapshot());
      case '/api/predictions':
        return send(res, 200, { predictions: api.predictions(predictionQuery(q)) });
      case '/api/events':
        return send(res, 200, api.events(eventQuery(q)));
      case '/api/history':
        return send(res, 200, api.history(historyQuery(q)));
      case '/favicon.ico':
        return sendText(res, 204, '', 'image/x-icon');
    }
    const input = /^\/api\/predictions\/(\d{1,15})\/input$/.exec(path)?.[1];
    if (input !== undefined) {
      const image = api.predictionInput(Number(input));
      return image ? sendBytes(res, image.data, image.mediaType) : send(res, 404, { error: `no image kept for prediction ${input} (only captured inputs are stored)` });
    }
    const seq = /^\/api\/predictions\/(\d{1,15})$/.exec(path)?.[1];
    if (seq !== undefined) {
      const detail = api.prediction(Number(seq));
      return detail ? send(res, 200, detail) : send(res, 404, { error: `no prediction ${seq} in the store (it may have been pruned after delivery)` });
    }
    if (path === '/' || path === '/index.html') return send(res, 503, { error: 'the status page files are missing; the JSON API under /api/ works' });
    send(res, 404, { error: `no such page: ${path}` });
  }

  private async action(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (Number(req.headers['content-length'] ?? 0) > MAX_ACTION_BODY) {
      res.setHeader('connection', 'close');
      return send(res, 413, { error: `an action request body is at most ${MAX_ACTION_BODY} bytes` });
    }
    const route = actionRoute(path);
    // Only an action that takes parameters reads its body; the others' is read away so the connection can be reused.
    const body = route?.readsBody ? readBody(req, MAX_ACTION_BODY) : (req.resume(), Promise.resolve(Buffer.alloc(0)));
    body.catch(() => undefined);
    if (!route) return send(res, 404, { error: `no such action: ${path}` });
    if (req.method !== 'POST') return send(res, 405, { error: 'actions are POST requests' }, { allow: 'POST' });
    const check = checkAction(req.headers.authorization, this.opts.token);
    if (!check.ok) {
      this.opts.log.warn({ path, status: check.status, remote: req.socket.remoteAddress }, 'status action refused');
      return send(res, check.status, { error: check.error }, check.status === 401 ? { 'www-authenticate': 'Bearer realm="edge-agent"' } : {});
    }
    const run = route.run(this.opts.actions ?? {});
    if (!run) return send(res, 501, { error: route.missing });
    this.opts.log.info({ path, remote: req.socket.remoteAddress }, 'status action');
    let result: unknown;
    try {
      result = await run(await body);
    } catch (err) {
      // A refused action (nothing to roll back, a switch in progress) is the operator's answer, not a server fault.
      if (err instanceof AgentError) return send(res, err.code === 'E_BAD_REQUEST' ? 400 : 409, { error: err.message, code: err.code });
      throw err;
    }
    send(res, 200, { ok: true, result: result ?? null });
  }

  private failed(res: ServerResponse, err: unknown, path: string): void {
    this.opts.log.error({ err, path }, `status request failed: ${errorMessage(err)}`);
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
  }
}

function actionRoute(path: string): ActionRoute | undefined {
  if (path === '/api/actions/rollback') return { run: (a) => a.rollback, missing: 'rollout not available yet' };
  if (path === '/api/actions/capture') return { run: (a) => a.capture, missing: 'sample capture not available yet' };
  if (path === '/api/actions/label') return { run: (a) => a.label, readsBody: true, missing: 'labels not available' };
  const alarm = /^\/api\/actions\/alarms\/([A-Za-z0-9._:-]{1,128})\/ack$/.exec(path)?.[1];
  if (alarm !== undefined) return { run: (a) => (a.ackAlarm ? () => a.ackAlarm!(alarm) : undefined), missing: 'alarms not available yet' };
  return undefined;
}

/** Actions take at most a few parameters; anything larger is not an operator's request. */
const MAX_ACTION_BODY = 64 * 1024;

/** The request body, refused with E_BAD_REQUEST beyond `max` bytes (a chunked body has no length to check first). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.destroy();
        reject(new AgentError('E_BAD_REQUEST', `an action request body is at most ${max} bytes`));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };

/** Everything the page needs comes from the agent itself: no CDN, no inline script, no framing. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), 'application/json; charset=utf-8', headers);
}

function sendText(res: ServerResponse, status: number, text: string, type: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'content-type': type, 'content-length': body.length, ...COMMON_HEADERS, ...headers });
  res.end(res.req.method === 'HEAD' || status === 204 ? undefined : body);
}

/** A stored image: the bytes as they were captured, never rendered as anything else. */
function sendBytes(res: ServerResponse, body: Buffer, type: string): void {
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, ...COMMON_HEADERS, 'content-security-policy': "default-src 'none'" });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendAsset(res: ServerResponse, asset: PageAsset): void {
  res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, ...COMMON_HEADERS, 'content-security-policy': PAGE_CSP });
  res.end(res.req.method === 'HEAD' ? undefined : asset.body);
}
