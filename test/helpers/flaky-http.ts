import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CleanupHost } from './tmp.js';

/** How the server misbehaves on one request. Every kind but `ignore-range` honours `Range: bytes=N-`. */
export type Fault =
  | { kind: 'ok' }
  /** Sends `afterBytes` of the body, then drops the connection (the full length was announced). */
  | { kind: 'cut'; afterBytes: number }
  /** Sends `afterBytes` of the body, then nothing, holding the connection open. */
  | { kind: 'stall'; afterBytes: number }
  /** Always 200 with the whole file, whatever Range asked. */
  | { kind: 'ignore-range' }
  /** Sends `extra` bytes past the end; `declareLength` announces the longer length, otherwise chunked. */
  | { kind: 'too-long'; extra: number; declareLength: boolean }
  /** Flips the lowest bit of the byte at `offset` (of the whole file). */
  | { kind: 'flip'; offset: number }
  | { kind: 'status'; status: number };

export interface SeenRequest {
  method: string;
  range: string | undefined;
  fault: Fault['kind'];
}

export interface FlakyServer {
  url: string;
  /** Every request, in arrival order. */
  requests: SeenRequest[];
  /** Body bytes handed to sockets, over all requests. */
  bodyBytesSent(): number;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 serving `body` at any path, misbehaving as `faultFor`
 * says for the n-th request (from 0). Closed, with every connection, when `host` ends.
 */
export async function startFlakyServer(host: CleanupHost, body: Buffer, faultFor: (n: number) => Fault = () => ({ kind: 'ok' })): Promise<FlakyServer> {
  const requests: SeenRequest[] = [];
  let sent = 0;
  const server = createServer((req, res) => {
    const fault = faultFor(requests.length);
    requests.push({ method: req.method ?? '', range: req.headers.range, fault: fault.kind });
    void answer(req, res, fault).catch(() => res.destroy());
  });

  async function answer(req: IncomingMessage, res: ServerResponse, fault: Fault): Promise<void> {
    const write = (chunk: Buffer) =>
      new Promise<void>((resolve) => {
        sent += chunk.length;
        res.write(chunk, () => resolve());
      });
    if (fault.kind === 'status') {
      res.writeHead(fault.status, { 'content-length': 0 }).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m && fault.kind !== 'ignore-range' ? Number(m[1]) : 0;
    if (start >= body.length && start > 0) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}`, 'content-length': 0 }).end();
      return;
    }
    let slice = Buffer.from(body.subarray(start));
    if (fault.kind === 'flip' && fault.offset >= start) slice[fault.offset - start] = (slice[fault.offset - start] ?? 0) ^ 1;
    const headers: Record<string, string | number> = {};
    let total = body.length;
    if (fault.kind === 'too-long') {
      slice = Buffer.concat([slice, Buffer.alloc(fault.extra, 0x5a)]);
      total += fault.extra;
    }
    if (fault.kind !== 'too-long' || fault.declareLength) headers['content-length'] = slice.length;
    if (start > 0) headers['content-range'] = `bytes ${start}-${total - 1}/${total}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();

    if (fault.kind === 'cut' || fault.kind === 'stall') {
      await write(slice.subarray(0, fault.afterBytes));
      if (fault.kind === 'stall') return; // the connection stays open, silent, until the server closes
      await sleep(50); // let the client drain what it got before the connection drops
      res.socket?.destroy();
      return;
    }
    for (let off = 0; off < slice.length; off += 64 * 1024) await write(slice.subarray(off, off + 64 * 1024));
    res.end();
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  host.after(close);
  return { url: `http://127.0.0.1:${port}/artifact.bin`, requests, bodyBytesSent: () => sent, close };
}
