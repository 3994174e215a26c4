import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AgentConfigInput } from '../../agent/config/schema.js';
import { defectModelEntry } from '../../agent/demo/defect-model.js';
import type { StatusSnapshot } from '../../agent/status/snapshot.js';
import { BinProcess, type SpawnOptions } from './child.js';
import type { CleanupHost } from './tmp.js';

/** One pino line of the agent's stdout. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The JSON lines of `text`; anything else (a stray console.log) is skipped. */
export function parseLogLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value = JSON.parse(line) as unknown;
      if (value && typeof value === 'object' && 'msg' in value) out.push(value as LogLine);
    } catch {
      // a line cut by a kill -9 is not evidence of anything
    }
  }
  return out;
}

export interface AgentConfigOptions {
  deviceId: string;
  broker: { url: string; protocolVersion: 5 | 4 };
  modelPath: string;
  /** The hot folder; relative paths are relative to the config file. */
  folder?: string;
  dbPath?: string;
  /** 0 lets the OS pick; the running agent logs the URL it got. */
  statusPort?: number;
  stableMs?: number;
  shutdownMs?: number;
}

/**
 * A config for one agent with a folder camera and the defect model. Reconnects are quick
 * so tests that take the broker away do not wait out production backoffs.
 */
export function agentConfig(o: AgentConfigOptions): AgentConfigInput {
  return {
    deviceId: o.deviceId,
    site: 'test-plant',
    log: { level: 'info' },
    sources: [{ id: 'cam1', type: 'folder', path: o.folder ?? 'inbox', stableMs: o.stableMs ?? 300, pollMs: 50 }],
    models: [defectModelEntry(o.modelPath)],
    buffer: { path: o.dbPath ?? 'agent.db', lingerMs: 5 },
    broker: { url: o.broker.url, protocolVersion: o.broker.protocolVersion, keepaliveS: 5, batch: { lingerMs: 10 }, reconnect: { minMs: 100, maxMs: 500 } },
    status: { host: '127.0.0.1', port: o.statusPort ?? 0 },
    shutdown: { deadlineMs: o.shutdownMs ?? 5000 },
  };
}

/** Writes `config` as YAML (what an operator would write) and returns the file's path. */
export async function writeConfig(dir: string, config: unknown, name = 'agent.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, stringify(config));
  return file;
}

/** `edge-agent run --config FILE` as a child process. */
export class AgentProcess extends BinProcess {
  private url: string | undefined;

  constructor(readonly configPath: string, opts: SpawnOptions = {}) {
    super('edge-agent', ['run', '--config', configPath], opts);
  }

  logs(): LogLine[] {
    return parseLogLines(this.stdout);
  }

  /** Base URL of the status server, known once the agent is ready. */
  get statusUrl(): string {
    if (!this.url) throw new Error('the agent is not ready yet');
    return this.url;
  }

  /** Resolves once the agent logged that it runs and its status server answers. */
  async ready(timeoutMs = 30_000): Promise<void> {
    await this.waitForOutput('the "edge-agent running" log line', (p) => p.logs().some((l) => l.msg === 'edge-agent running'), timeoutMs);
    const line = this.logs().find((l) => l.msg === 'edge-agent running');
    if (typeof line?.status !== 'string') throw new Error(`the agent runs without a status URL\n${this.tail()}`);
    this.url = line.status;
    const res = await fetch(`${this.url}/healthz`);
    if (!res.ok) throw new Error(`/healthz answered ${res.status}`);
  }

  async status(): Promise<StatusSnapshot> {
    const res = await fetch(`${this.statusUrl}/api/status`);
    if (!res.ok) throw new Error(`/api/status answered ${res.status}`);
    return (await res.json()) as StatusSnapshot;
  }
}

/** Spawns the agent on `configPath`, waits until it is ready, and kills it when `host` ends. */
export async function startAgent(host: CleanupHost, configPath: string, opts: SpawnOptions = {}): Promise<AgentProcess> {
  const agent = new AgentProcess(configPath, opts).cleanupWith(host);
  await agent.ready();
  return agent;
}
