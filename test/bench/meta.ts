import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TestBroker } from '../helpers/broker.js';
import { REPO_ROOT } from './inputs.js';

/** What a reader needs to judge a result file: the machine, the software, what was fed in. */
export function runMeta(broker: TestBroker, extra: Record<string, unknown>): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryMb: Math.round(os.totalmem() / (1024 * 1024)),
      os: `${os.platform()} ${os.release()}`,
      arch: os.arch(),
      loadavg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    },
    node: process.version,
    packages: Object.fromEntries(['onnxruntime-node', 'sharp', 'better-sqlite3', 'mqtt', 'aedes'].map((p) => [p, packageVersion(p)])),
    libvips: sharp.versions.vips,
    sharpConcurrency: sharp.concurrency(),
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)',
    broker: { kind: broker.kind, version: broker.kind === 'mosquitto' ? mosquittoVersion() : packageVersion('aedes'), protocolVersion: broker.protocolVersion },
    commit: gitCommit(),
    ...extra,
  };
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'absent';
  }
}

function mosquittoVersion(): string {
  const out = spawnSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8' });
  return /version (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 'unknown';
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}
