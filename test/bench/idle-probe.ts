import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { benchConfig, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { sleep } from './stats.js';

/*
 * Runs in a fresh process (see bench-idle.ts) so the bench's own frames, buffers and
 * sessions are not counted. `agent`: the whole agent built from a config, started, idle.
 * `bare`: the same model in a bare onnxruntime session, nothing else.
 */

export interface ProbeRequest {
  mode: 'agent' | 'bare';
  entry: BenchInputs['entry'];
  baseDir: string;
  modelPath: string;
  threads: number;
  broker: BrokerRef;
  dir: string;
}

export interface ProbeResult {
  readyMs: number;
  connectedMs: number | null;
  rssMb: number;
}

const IDLE_MS = 1000;

async function probe(req: ProbeRequest): Promise<ProbeResult> {
  const t0 = performance.now();
  if (req.mode === 'bare') {
    const session = await InferenceSession.create(req.modelPath, { intraOpNumThreads: req.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    const readyMs = performance.now() - t0;
    const rssMb = await idleRss();
    await session.release();
    return { readyMs, connectedMs: null, rssMb };
  }
  const inbox = join(req.dir, 'inbox');
  mkdirSync(inbox, { recursive: true });
  const config = benchConfig({ deviceId: 'bench-idle', model: req.entry, dbPath: join(req.dir, 'idle.db'), broker: req.broker, sourceDir: inbox });
  const agent = await Agent.create({ config, baseDir: req.baseDir, log: pino({ level: 'silent' }) });
  await agent.start();
  const readyMs = performance.now() - t0;
  for (let i = 0; i < 500 && !agent.sync.connected; i++) await sleep(2);
  const connectedMs = agent.sync.connected ? performance.now() - t0 : null;
  const rssMb = await idleRss();
  await agent.stop();
  return { readyMs, connectedMs, rssMb };
}

/** RSS after a quiet second and a full GC: what an idle gateway holds, not garbage it has yet to collect. */
async function idleRss(): Promise<number> {
  await sleep(IDLE_MS);
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(100);
  return process.memoryUsage().rss / (1024 * 1024);
}

const req = JSON.parse(process.argv[2] ?? '{}') as ProbeRequest;
process.stdout.write(`${JSON.stringify(await probe(req))}\n`);
