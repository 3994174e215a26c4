import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { freePort } from '../../agent/demo/free-port.js';

const MOSQUITTO = '/usr/sbin/mosquitto';

export interface TestBroker {
  url: string;
  port: number;
  kind: 'mosquitto' | 'aedes';
  /** Mosquitto speaks MQTT 5; aedes only 3.1.1. */
  protocolVersion: 5 | 4;
  /** Stops the broker; `restart` brings it back on the same port. Safe twice. */
  stop(): Promise<void>;
  /** (Re)starts the broker on the same port, stopping it first if it runs. */
  restart?(): Promise<void>;
}

export interface TestBrokerOptions {
  /**
   * Keep sessions, subscriptions and queued messages across `restart` (a production broker
   * does). Off by default: a restart then forgets everything, like fault #5.
   */
  persistence?: boolean;
}

let announced = false;

/**
 * A real broker on 127.0.0.1 and a free port: Mosquitto when installed (MQTT 5), otherwise
 * the embedded aedes. `TEST_BROKER=aedes` forces aedes, to run the suite against both.
 */
export async function startBroker(opts: TestBrokerOptions = {}): Promise<TestBroker> {
  const useMosquitto = existsSync(MOSQUITTO) && process.env.TEST_BROKER !== 'aedes';
  const broker = useMosquitto ? await startMosquitto(opts) : await startAedes(opts);
  if (!announced) {
    announced = true;
    const what = broker.kind === 'mosquitto' ? `mosquitto ${mosquittoVersion()}` : 'aedes (embedded, MQTT 3.1.1)';
    console.log(`# broker: ${what} on 127.0.0.1:${broker.port}`);
  }
  return broker;
}

export { freePort };

async function startMosquitto(opts: TestBrokerOptions): Promise<TestBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-'));
  let proc: ChildProcess | undefined;
  // A test that fails or forgets its after hook must not leave a broker behind.
  process.once('exit', () => {
    proc?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `persistence ${opts.persistence ? 'true' : 'false'}`];
  if (opts.persistence) lines.push(`persistence_location ${dir}/`, 'autosave_interval 0');
  // Run as root, mosquitto drops to its own user, which cannot write our temp dir.
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);

  const start = async () => {
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    proc = child;
    await waitForPort(port, 5000, () => (child.exitCode !== null ? `mosquitto exited: ${stderr.trim()}` : undefined));
  };
  const stop = async () => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    kind: 'mosquitto',
    protocolVersion: 5,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

async function startAedes(opts: TestBrokerOptions): Promise<TestBroker> {
  let aedes: Aedes | undefined;
  // With persistence, sessions and queues outlive a broker instance by handing its
  // (in-memory) persistence to the next one, as a disk would for a real broker.
  let kept: unknown;
  let server: net.Server | undefined;
  const sockets = new Set<net.Socket>();
  let port = 0;
  const start = async () => {
    const broker = await Aedes.createBroker(opts.persistence && kept ? { persistence: kept } : {});
    kept = (broker as unknown as { persistence: unknown }).persistence;
    const s = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
    port = (s.address() as net.AddressInfo).port;
    aedes = broker;
    server = s;
  };
  const stop = async () => {
    const s = server;
    const broker = aedes;
    server = undefined;
    aedes = undefined;
    if (!s || !broker) return;
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => s.close(resolve));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    kind: 'aedes',
    protocolVersion: 4,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const reason = failed();
    if (reason) throw new Error(reason);
    if (await canConnect(port)) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function mosquittoVersion(): string {
  const out = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' });
  return /version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? '2.x';
}

/** A TCP hop between clients and the broker that can hold back the broker's replies or cut every link. */
export interface TcpGate {
  url: string;
  port: number;
  /** Holds broker→client bytes (PUBACKs among them) until `release`. */
  hold(): void;
  release(): void;
  /** Drops every open link at once, as a flapping network would. */
  cut(): void;
  close(): Promise<void>;
}

/** Starts a gate in front of 127.0.0.1:`targetPort`. */
export async function startGate(targetPort: number): Promise<TcpGate> {
  let holding = false;
  const links = new Set<{ client: net.Socket; upstream: net.Socket; held: Buffer[] }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const link = { client, upstream, held: [] as Buffer[] };
    links.add(link);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => (holding ? link.held.push(chunk) : client.write(chunk)));
    const drop = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const link of links) for (const chunk of link.held.splice(0)) link.client.write(chunk);
    },
    cut: () => {
      for (const link of [...links]) {
        link.client.destroy();
        link.upstream.destroy();
      }
    },
    close: async () => {
      for (const link of [...links]) {
        link.client.destroy();
        link.upstream.destroy();
      }
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
