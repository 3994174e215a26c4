import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrokerRef } from './config.js';
import { nativeHeap } from '../../agent/memory/glibc.js';
import { PipelineRig } from './agent-rig.js';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from './deployed-env.js';
import { REPO_ROOT, type BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';

export interface SoakOptions {
  /** Frames in all. */
  frames: number;
  /** The early reading is taken after this many frames. */
  early: number;
  /** RSS is read every this many frames, for the progress line. */
  every: number;
}

const mb = (bytes: number) => bytes / 1024 / 1024;

/** How the agent's native heap trimming went: how many, the last one's time and the RSS it handed back. */
function trims(rig: PipelineRig): string {
  const last = rig.trim.last;
  if (!last) return 'no native heap trim yet';
  return `${rig.trim.trims} native heap trims, the last ${last.ms.toFixed(1)} ms, RSS ${mb(last.rssBefore).toFixed(1)} → ${mb(last.rssAfter).toFixed(1)} MB`;
}

/** What soak-child.ts is asked to run. */
export interface SoakRequest {
  dir: string;
  broker: BrokerRef;
  opts: SoakOptions;
}

const CHILD = fileURLToPath(new URL('./soak-child.ts', import.meta.url));

/**
 * The soak as the gateway runs the agent: in a fresh process with the allocator settings of
 * the systemd unit and the image (DEPLOYED_ENV, DEPLOYED_NODE_FLAGS), both readings taken in that process. Native
 * memory is what the soak is about, and glibc without them keeps freed decoded frames in its
 * heaps, where they fragment and grow the RSS over a long run (see README, Development).
 */
export function deployedSoakFigures(broker: BrokerRef, dir: string, opts: SoakOptions, progress: (s: string) => void): Promise<Figure[]> {
  mkdirSync(dir, { recursive: true });
  const req: SoakRequest = { dir, broker: { url: broker.url, protocolVersion: broker.protocolVersion }, opts };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...DEPLOYED_NODE_FLAGS, '--import', 'tsx', CHILD, JSON.stringify(req)], { cwd: REPO_ROOT, env: { ...process.env, ...DEPLOYED_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-8000);
      for (const line of c.toString().split('\n')) if (line.startsWith('soak:')) progress(line);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && line.startsWith('[')) resolve(JSON.parse(line) as Figure[]);
      else reject(new Error(`the soak process exited with ${code}: ${err.trim()}`));
    });
  });
}

/**
 * Memory under a long run: the camera path as the frame figures run it (drift, 5%
 * explanations, SQLite and MQTT), fed flat out, RSS read after the first `early` frames and
 * at the end. Growth beyond 5% means something keeps per-frame state.
 */
export async function soakFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: SoakOptions, progress: (s: string) => void): Promise<Figure[]> {
  const rig = await PipelineRig.create(inputs, broker, dir);
  const readings: Array<{ frames: number; rss: number }> = [];
  const t0 = performance.now();
  try {
    await rig.soak(inputs.frames, opts.frames, opts.early, async (done) => {
      if (done !== opts.early && done % opts.every !== 0 && done !== opts.frames) return;
      const m = process.memoryUsage();
      const native = nativeHeap();
      const workers = await rig.workerHeaps();
      const rss = mb(m.rss);
      readings.push({ frames: done, rss });
      const fps = done / ((performance.now() - t0) / 1000);
      // Where the RSS is: the event loop's JS heap (used of held) and buffers, the inference workers'
      // JS heaps, glibc's heaps (sharp, onnxruntime, SQLite, the buffers), and what the trims do.
      const heaps = `JS heap ${mb(m.heapUsed).toFixed(1)} of ${mb(m.heapTotal).toFixed(1)}, buffers ${mb(m.arrayBuffers).toFixed(1)}, workers' JS heaps ${workers.map((w) => `${mb(w.usedBytes).toFixed(1)} of ${mb(w.totalBytes).toFixed(1)}`).join(', ')}`;
      const glibc = native ? `, glibc in use ${mb(native.inUseBytes).toFixed(1)} (mmap'd ${mb(native.mmappedBytes).toFixed(1)}) and free ${mb(native.freeBytes).toFixed(1)}` : '';
      progress(`soak: ${done} frames, RSS ${rss.toFixed(1)} MB (${heaps}${glibc}), ${fps.toFixed(0)} frames/s on average, ${rig.explained} explained, ${trims(rig)}`);
    });
  } finally {
    await rig.stop();
  }
  const early = readings.find((r) => r.frames === opts.early)!;
  const last = readings.at(-1)!;
  const series = readings.filter((r) => r.frames % (opts.every * 5) === 0 || r === early || r === last);
  return [
    figure({
      name: `RSS after ${opts.frames} frames vs after ${opts.early}`,
      unit: 'MB',
      better: 'lower',
      agent: [last.rss],
      baseline: [early.rss],
      baselineName: `after ${opts.early} frames`,
      target: { of: 'ratio', op: '<=', limit: 1.05 },
      note: `camera path flat out with drift, explanations on a 5% sample, SQLite and MQTT, in a fresh process with the deployed ${Object.entries(DEPLOYED_ENV).map(([k, v]) => `${k}=${v}`).join(' ')} ${DEPLOYED_NODE_FLAGS.join(' ')}; RSS MB by frames: ${series.map((r) => `${r.frames}: ${r.rss.toFixed(1)}`).join(', ')}; ${rig.explained} explained`,
    }),
  ];
}
