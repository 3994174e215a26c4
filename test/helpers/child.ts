import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CleanupHost } from './tmp.js';
import { waitFor } from './wait.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Bin = 'edge-agent' | 'edgectl';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BinResult extends Exit {
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** Added to the environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
}

/**
 * The caller's environment minus any EDGE_AGENT__ overrides, so a developer's shell
 * cannot change what a test's config means.
 */
function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EDGE_AGENT__')) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** One of the repo's bins running as a real process, with its output kept for assertions. */
export class BinProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private out = '';
  private err = '';

  constructor(bin: Bin, args: readonly string[], opts: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [`bin/${bin}.js`, ...args], { cwd: REPO_ROOT, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.out += s));
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.err += s));
    // 'close' rather than 'exit': by then every byte of output has been read.
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines of both streams, for failure messages. */
  tail(chars = 3000): string {
    return `--- stdout ---\n${this.out.slice(-chars)}\n--- stderr ---\n${this.err.slice(-chars)}`;
  }

  /**
   * Sends `signal` and resolves with the exit code. A process still alive after
   * `timeoutMs` is killed and the promise rejects: hanging at stop is a failure.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return (await this.exited).code;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    const outcome = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (outcome === 'late') {
      await this.kill9();
      throw new Error(`bin/${this.child.spawnargs[1] ?? '?'} did not exit within ${timeoutMs} ms of ${signal}\n${this.tail()}`);
    }
    return outcome.code;
  }

  /** SIGKILL: no handler runs, exactly like a power cut for the process. */
  async kill9(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Waits until `check` holds for the output so far; fails early if the process exits first. */
  async waitForOutput(what: string, check: (p: this) => boolean, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      what,
      () => {
        if (check(this)) return true;
        if (!this.running) throw new Error(`process exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}\n${this.tail()}`);
        return false;
      },
      timeoutMs,
    );
  }

  /** Kills the process (if still running) when `host` ends, whatever the test did. */
  cleanupWith(host: CleanupHost): this {
    host.after(() => this.kill9());
    return this;
  }
}

/** Runs a bin to completion; a run longer than `timeoutMs` is killed and fails. */
export async function runBin(bin: Bin, args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<BinResult> {
  const p = new BinProcess(bin, args, opts);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const outcome = await Promise.race([p.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    await p.kill9();
    throw new Error(`${bin} ${args.join(' ')} ran longer than ${timeoutMs} ms\n${p.tail()}`);
  }
  return { ...outcome, stdout: p.stdout, stderr: p.stderr };
}
