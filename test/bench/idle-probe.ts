import type { BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { sleep } from './stats.js';

/*
 * Shared by the two probe entry points (idle-agent.ts, idle-bare.ts), each run in a fresh
 * process by bench-idle.ts so the bench's own frames, buffers and sessions are not counted,
 * and kept apart so the bare one loads onnxruntime and nothing of the agent.
 */

export interface ProbeRequest {
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

/** RSS after a quiet second and a full GC: what an idle gateway holds, not garbage it has yet to collect. */
export async function idleRss(): Promise<number> {
  await sleep(1000);
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(100);
  return process.memoryUsage().rss / (1024 * 1024);
}

/** Reads the request from argv, prints the result as one JSON line. */
export async function runProbe(probe: (req: ProbeRequest) => Promise<ProbeResult>): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '{}') as ProbeRequest;
  process.stdout.write(`${JSON.stringify(await probe(req))}\n`);
}
