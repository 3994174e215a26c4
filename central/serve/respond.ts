import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { resolveArtifact } from './artifact-path.js';
import { planRange } from './byte-range.js';
import { manifestSha256 } from './manifest-etag.js';
import { Throttle } from './throttle.js';

export interface RespondContext {
  /** The served folder, as a real path. */
  root: string;
  rateBytesPerS: number | undefined;
  log: Logger;
}

/**
 * Answers one request for an artifact: GET or HEAD of a regular file under the root,
 * whole or one byte range, with the length and an ETag the downloader can trust.
 * Everything else is 404 or 405; nothing is ever written.
 */
export async function respond(req: IncomingMessage, res: ServerResponse, ctx: RespondContext): Promise<void> {
  const startedAt = performance.now();
  const remote = req.socket.remoteAddress; // gone once the socket is
  let bodyBytes = 0;
  res.once('close', () => {
    ctx.log.info(
      {
        method: req.method,
        path: req.url,
        range: req.headers.range,
        status: res.statusCode,
        length: bodyBytes,
        complete: res.writableFinished,
        ms: Math.round(performance.now() - startedAt),
        remote,
      },
      'request',
    );
  });
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });

  const path = await resolveArtifact(ctx.root, req.url ?? '');
  if (!path) return plain(res, 404, 'not found\n');
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    // Size and mtime of the open file, not of the name: a bundle replaced meanwhile cannot mix.
    const stats = await fh.stat();
    if (!stats.isFile()) return plain(res, 404, 'not found\n');
    const sha256 = await manifestSha256(ctx.root, path);
    const etag = `"${sha256 ?? `${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}`}"`;
    const ifRange = req.headers['if-range'];
    const range = ifRange === undefined || ifRange === etag ? planRange(req.headers.range, stats.size) : ({ kind: 'full' } as const);
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('etag', etag);
    res.setHeader('last-modified', stats.mtime.toUTCString());
    if (range.kind === 'unsatisfiable') return plain(res, 416, 'range not satisfiable\n', { 'content-range': `bytes */${stats.size}` });

    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : stats.size - 1;
    bodyBytes = Math.max(0, end - start + 1);
    res.statusCode = range.kind === 'partial' ? 206 : 200;
    if (range.kind === 'partial') res.setHeader('content-range', `bytes ${start}-${end}/${stats.size}`);
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', bodyBytes);
    if (req.method === 'HEAD' || bodyBytes === 0) {
      bodyBytes = 0;
      res.end();
      return;
    }
    const body = fh.createReadStream({ start, end }); // closes the file when done or destroyed
    fh = undefined;
    const stages = ctx.rateBytesPerS ? [body, new Throttle(ctx.rateBytesPerS), res] : [body, res];
    // A client going away mid-body is routine for a download server; the log line shows it.
    await pipeline(stages).catch(() => {});
  } catch (err) {
    ctx.log.warn({ err, path: req.url }, 'cannot serve');
    if (!res.headersSent) plain(res, 500, 'cannot read the file\n');
    else res.destroy();
  } finally {
    await fh?.close();
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
