import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerRef } from './config.js';
import type { ProbeRequest, ProbeResult } from './idle-probe.js';
import { REPO_ROOT, type BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { rotate } from './stats.js';

const PROBE = fileURLToPath(new URL('./idle-probe.ts', import.meta.url));

/** RSS with the model loaded and idle, and start → ready, each from a fresh process, agent against a bare session. */
export async function idleFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, reps: number): Promise<Figure[]> {
  const agent: ProbeResult[] = [];
  const bare: ProbeResult[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const runs = [
      async () => agent.push(await runProbe({ ...request(inputs, broker, join(dir, `idle-${rep}`)), mode: 'agent' })),
      async () => bare.push(await runProbe({ ...request(inputs, broker, join(dir, `idle-${rep}`)), mode: 'bare' })),
    ];
    for (const run of rotate(runs, rep)) await run();
  }
  const connected = agent.map((r) => (r.connectedMs === null ? 'never' : `${r.connectedMs.toFixed(0)}`)).join('/');
  return [
    figure({
      name: 'RSS idle, model loaded',
      unit: 'MB',
      better: 'lower',
      agent: agent.map((r) => r.rssMb),
      baseline: bare.map((r) => r.rssMb),
      baselineName: 'bare session process',
      target: { of: 'value', op: '<=', limit: 150 },
      note: 'fresh process each, both under the tsx loader, after 1 s idle and a GC; agent = Agent.create + start with a folder source, store and sync',
    }),
    figure({
      name: 'start to ready',
      unit: 'ms',
      better: 'lower',
      agent: agent.map((r) => r.readyMs),
      baseline: bare.map((r) => r.readyMs),
      baselineName: 'bare session create',
      target: { of: 'value', op: '<=', limit: 2000 },
      note: `Agent.create → start resolved (model loaded, source started), imports excluded; broker connected at ${connected} ms`,
    }),
  ];
}

function request(inputs: BenchInputs, broker: BrokerRef, dir: string): Omit<ProbeRequest, 'mode'> {
  mkdirSync(dir, { recursive: true });
  return { entry: inputs.entry, baseDir: inputs.baseDir, modelPath: inputs.modelPath, threads: inputs.model.threads, broker: { url: broker.url, protocolVersion: broker.protocolVersion }, dir };
}

function runProbe(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', PROBE, JSON.stringify(req)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as ProbeResult);
      else reject(new Error(`idle probe (${req.mode}) exited with ${code}: ${err.trim() || out.trim()}`));
    });
  });
}
