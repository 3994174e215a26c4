import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpath, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { AgentError } from '../agent/errors.js';
import { respond } from './serve/respond.js';

export interface ArtifactServerOptions {
  /** The folder of bundle folders to serve, read-only. */
  dir: string;
  /** Default 127.0.0.1: exposing artifacts to the plant network is a deliberate choice. */
  host?: string;
  /** 0 picks a free port. Default 0. */
  port?: number;
  /** Per-request rate limit, to spare a thin uplink or to test a slow one. */
  rateBytesPerS?: number;
  log: Logger;
}

export interface ArtifactServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`; artifact paths are relative to `dir`. */
  url: string;
  close(): Promise<void>;
}

/** Serves the artifacts under `dir` over HTTP with Range support until `close()`. */
export async function startArtifactServer(opts: ArtifactServerOptions): Promise<ArtifactServer> {
  const root = await realDirectory(opts.dir);
  const log = opts.log.child({ component: 'artifact-server' });
  const ctx = { root, rateBytesPerS: opts.rateBytesPerS, log };
  const server = createServer((req, res) => void respond(req, res, ctx));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new AgentError('E_SERVE_LISTEN', `cannot listen on ${host}:${opts.port ?? 0}: ${err.code ?? err.message}`, { cause: err })));
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A stalled or throttled download would otherwise hold the close open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function realDirectory(dir: string): Promise<string> {
  try {
    const real = await realpath(dir);
    if ((await stat(real)).isDirectory()) return real;
  } catch (err) {
    throw new AgentError('E_SERVE_DIR', `cannot serve ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  throw new AgentError('E_SERVE_DIR', `cannot serve ${dir}: not a directory`);
}

const SERVE_USAGE = 'usage: edgectl serve --dir DIR [--port 8080] [--host 127.0.0.1] [--rate BYTES_PER_S] [--log-level info]';

/** `edgectl serve`: runs the artifact server until SIGINT/SIGTERM; returns the exit code. */
export async function runServe(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dir: { type: 'string' },
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        rate: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
      },
    }));
  } catch (err) {
    return usageError((err as Error).message);
  }
  if (!values.dir) return usageError('--dir DIR is required');
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) return usageError(`--port must be 0..65535, got "${values.port}"`);
  let rateBytesPerS: number | undefined;
  if (values.rate !== undefined) {
    rateBytesPerS = Number(values.rate);
    if (!/^\d+$/.test(values.rate) || rateBytesPerS < 1) return usageError(`--rate must be a whole number of bytes per second ≥ 1, got "${values.rate}"`);
  }
  const level = values['log-level'];
  if (!pino.levels.values[level]) return usageError(`--log-level must be one of ${Object.keys(pino.levels.values).join(', ')}`);

  const log = pino({ level, base: { app: 'edgectl' } });
  let server: ArtifactServer;
  try {
    server = await startArtifactServer({ dir: values.dir, host: values.host, port, rateBytesPerS, log });
  } catch (err) {
    console.error(`edgectl serve: ${(err as Error).message}`);
    return 1;
  }
  log.info({ url: server.url, dir: values.dir, rateBytesPerS }, 'artifact server listening');
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  log.info({ signal }, 'stopping');
  await server.close();
  return 0;
}

function usageError(message: string): number {
  console.error(`edgectl serve: ${message}\n${SERVE_USAGE}`);
  return 2;
}
