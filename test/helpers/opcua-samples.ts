import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './child.js';
import { freePort } from './opcua-plant.js';
import type { CleanupHost } from './tmp.js';

export interface SamplesServer {
  endpoint: string;
  port: number;
  /** Where the server keeps its configuration (its PKI, its certificate). */
  configDir: string;
  certificateFile: string;
}

/**
 * The sample server of node-opcua-samples 2.14 (not written by this project), started as
 * it ships: bin/simple_server.js on a free port. Its settings go to a temp folder (it
 * writes under $XDG_CONFIG_HOME), so nothing outside the test is touched.
 */
export async function startSamplesServer(host: CleanupHost, dir: string): Promise<SamplesServer> {
  const port = await freePort();
  const script = join(REPO_ROOT, 'node_modules', 'node-opcua-samples', 'bin', 'simple_server.js');
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: dir };
  const child: ChildProcess = spawn(process.execPath, [script, '-p', String(port), '--silent'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  host.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-opcua-samples server did not start in 60 s:\n${out.slice(-3000)}`)), 60_000);
    const onData = (s: string) => {
      out += s;
      if (out.includes('server now waiting for connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node-opcua-samples server exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  const configDir = join(dir, 'NodeOPCUA-Server-nodejs');
  return { endpoint: `opc.tcp://127.0.0.1:${port}`, port, configDir, certificateFile: join(configDir, 'pki', 'server_certificate1.pem') };
}
