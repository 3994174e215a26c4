import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerRef } from './config.js';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from './deployed-env.js';
import type { ProbeRequest, ProbeResult } from './idle-probe.js';
import { REPO_ROOT, type BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { rotate } from './stats.js';

type Mode = 'agent' | 'bare';
const ENTRIES: Record<Mode, string> = {
  agent: fileURLToPath(new URL('./idle-agent.ts', import.meta.url)),
  bare: fileURLToPath(new URL('./idle-bare.ts', import.meta.url)),
};
/** Beside the results (git-ignored) so the bundles' bare imports resolve from the project's node_modules. */
const BUNDLES = fileURLToPath(new URL('./results/.idle-probes/', import.meta.url));

interface Probe {
  /** Node arguments before the request, per mode. */
  args: Record<Mode, string[]>;
  loader: string;
}

/** RSS with the model loaded and idle, and start → ready, each from a fresh process, agent against a bare session. */
export async function idleFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, reps: number): Promise<Figure[]> {
  const agent: ProbeResult[] = [];
  const bare: ProbeResult[] = [];
  const probe = await prepareProbe();
  try {
    for (let rep = 0; rep < reps; rep++) {
      const runs = [
        async () => agent.push(await runProbe(probe, 'agent', request(inputs, broker, join(dir, `idle-${rep}`)))),
        async () => bare.push(await runProbe(probe, 'bare', request(inputs, broker, join(dir, `idle-${rep}`)))),
      ];
      for (const run of rotate(runs, rep)) await run();
    }
  } finally {
    rmSync(BUNDLES, { recursive: true, force: true });
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
      note: `fresh process each (${probe.loader}), after 1 s idle and a GC, both with the deployed MALLOC_MMAP_THRESHOLD_=${DEPLOYED_ENV.MALLOC_MMAP_THRESHOLD_} and ${DEPLOYED_NODE_FLAGS.join(' ')}; agent = Agent.create + start with a folder source, store and sync`,
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

function request(inputs: BenchInputs, broker: BrokerRef, dir: string): ProbeRequest {
  mkdirSync(dir, { recursive: true });
  return { entry: inputs.entry, baseDir: inputs.baseDir, modelPath: inputs.modelPath, threads: inputs.model.threads, broker: { url: broker.url, protocolVersion: broker.protocolVersion }, dir };
}

/**
 * The probe bundled to plain JavaScript: the tsx loader alone adds about 40 MB of RSS (its
 * own thread and esbuild), which a deployed agent does not carry. esbuild comes with tsx;
 * without it the probe runs under tsx and the note says so.
 */
async function prepareProbe(): Promise<Probe> {
  try {
    const esbuild = await import('esbuild');
    // Split, so a dynamic import (node-opcua only with OPC-UA servers) stays lazy as in the agent itself.
    await esbuild.build({ entryPoints: ENTRIES, outdir: BUNDLES, outExtension: { '.js': '.mjs' }, bundle: true, splitting: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'silent' });
    const bundle = (mode: Mode) => [join(BUNDLES, `${mode}.mjs`)];
    return { args: { agent: bundle('agent'), bare: bundle('bare') }, loader: 'plain node, probes bundled with esbuild' };
  } catch {
    const tsx = (mode: Mode) => ['--import', 'tsx', ENTRIES[mode]];
    return { args: { agent: tsx('agent'), bare: tsx('bare') }, loader: 'under the tsx loader, which adds ~40 MB: esbuild unavailable' };
  }
}

function runProbe(probe: Probe, mode: Mode, req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', ...DEPLOYED_NODE_FLAGS, ...probe.args[mode], JSON.stringify(req)], { cwd: REPO_ROOT, env: { ...process.env, ...DEPLOYED_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      else reject(new Error(`idle probe (${mode}) exited with ${code}: ${err.trim() || out.trim()}`));
    });
  });
}
