import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './child.js';
import type { TestPki } from './certs.js';
import { freePort } from './broker.js';
import type { CleanupHost } from './tmp.js';

export const DEPLOY_CONF = join(REPO_ROOT, 'deploy', 'mosquitto', 'mosquitto.conf');
export const DEPLOY_ACL = join(REPO_ROOT, 'deploy', 'mosquitto', 'acl');

export interface FleetBroker {
  url: string;
  port: number;
  /** The config Mosquitto runs with. */
  conf: string;
  /** Lines of the deployed config that were rewritten (paths and listener), as [from, to]. */
  rewritten: Array<[string, string]>;
  stop(): Promise<void>;
}

/**
 * Mosquitto with deploy/mosquitto/mosquitto.conf and its ACL file as shipped: only the
 * certificate paths, the persistence folder and the listener (to 127.0.0.1 and a free
 * port) are rewritten, every other line is the deployed one.
 */
export async function startFleetBroker(host: CleanupHost, pki: TestPki, dir: string): Promise<FleetBroker> {
  const port = await freePort();
  const data = join(dir, 'mosquitto-data');
  mkdirSync(data, { recursive: true });
  const rewritten: Array<[string, string]> = [];
  const paths: Record<string, string> = {
    '/etc/mosquitto/certs/ca.crt': pki.ca,
    '/etc/mosquitto/certs/broker.crt': pki.broker.cert,
    '/etc/mosquitto/certs/broker.key': pki.broker.key,
    '/etc/mosquitto/acl': DEPLOY_ACL,
    '/var/lib/mosquitto/': `${data}/`,
  };
  const lines = readFileSync(DEPLOY_CONF, 'utf8').split('\n').map((line) => {
    let out = line;
    if (/^listener 8883$/.test(line)) out = `listener ${port} 127.0.0.1`;
    for (const [from, to] of Object.entries(paths)) if (out.endsWith(` ${from}`)) out = out.slice(0, -from.length) + to;
    if (out !== line) rewritten.push([line, out]);
    return out;
  });
  // Run as root, Mosquitto drops to its own user, which cannot read the test's files.
  if (process.getuid?.() === 0) lines.push('user root');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n'));
  let stderr = '';
  const child: ChildProcess = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  host.after(stop);
  process.once('exit', () => child.kill('SIGKILL'));
  const until = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { url: `mqtts://127.0.0.1:${port}`, port, conf, rewritten, stop };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
