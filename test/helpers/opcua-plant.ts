import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { freePort } from '../../agent/demo/free-port.js';
import { REPO_ROOT } from './child.js';
import type { CleanupHost } from './tmp.js';

export { freePort };

export interface PlantOptions {
  pkiDir: string;
  port?: number;
  tickMs?: number;
  partCycleMs?: number;
  benchTags?: number;
  users?: string[];
}

export interface PlantReply {
  ok?: boolean;
  error?: string;
  ticks?: number;
  wear?: number;
  writes?: Record<string, unknown[]>;
}

/** The project's simulated plant as a child process the test can stop, kill and start again. */
export class PlantProcess {
  private child: ChildProcess | undefined;
  endpoint = '';
  certificate = '';
  port = 0;

  private constructor(private readonly o: PlantOptions) {}

  static async start(host: CleanupHost, o: PlantOptions): Promise<PlantProcess> {
    const p = new PlantProcess(o);
    p.port = o.port ?? (await freePort());
    host.after(() => p.kill());
    await p.launch();
    return p;
  }

  private async launch(): Promise<void> {
    const o = this.o;
    const args = ['--port', String(this.port), '--pki', o.pkiDir, '--tick-ms', String(o.tickMs ?? 100), '--part-cycle-ms', String(o.partCycleMs ?? 0), '--bench-tags', String(o.benchTags ?? 0), ...(o.users ?? []).flatMap((u) => ['--user', u])];
    const child = fork(join(REPO_ROOT, 'agent/demo/plant-main.ts'), args, { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (err += s));
    const ready = await new Promise<{ endpoint: string; certificate: string }>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`plant did not start in 30 s: ${err.slice(-2000)}`)), 30_000);
      child.stdout?.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { endpoint: string; certificate: string });
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`plant exited with ${code}: ${err.slice(-2000)}`));
      });
    });
    this.endpoint = ready.endpoint;
    this.certificate = ready.certificate;
  }

  /** Sends a command over IPC and waits for the answer. */
  send(command: Record<string, unknown>): Promise<PlantReply> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error('plant is not running'));
    return new Promise((resolve) => {
      child.once('message', (m) => resolve(m as PlantReply));
      child.send(command);
    });
  }

  /** Graceful stop (SIGTERM), as a restart by the plant's operator. */
  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** SIGKILL: the server vanishes without closing anything. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  /** Starts again on the same port with the same PKI (the same certificate). */
  async restart(): Promise<void> {
    await this.launch();
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** Puts the plant's certificate in the agent's trusted folder, as an OT engineer would after checking it. */
export function trustCertificate(agentPkiDir: string, certificateFile: string): void {
  const dir = join(agentPkiDir, 'trusted', 'certs');
  mkdirSync(dir, { recursive: true });
  copyFileSync(certificateFile, join(dir, basename(certificateFile)));
}
