import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BrokerRef } from './config.js';
import { nativeHeap } from '../../agent/memory/glibc.js';
import { PipelineRig } from './agent-rig.js';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from './deployed-env.js';
import { REPO_ROOT, type BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { residentSplit, RssWindow } from './rss-window.js';
import { median } from './stats.js';

export interface SoakOptions {
  /** The late reading starts after this many frames (a multiple of `early`). */
  frames: number;
  /** The early reading starts after this many frames; frames are put this many at a time. */
  early: number;
  /** RSS is read every this many frames, for the progress line. */
  every: number;
  /** Frames offered at this steady rate, as a free-running camera does; flat out without it. */
  fps?: number;
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
 * explanations, SQLite and MQTT), fed flat out or at a camera's steady rate. The RSS after
 * the first `early` frames and after `frames` is each the median of samples over one native
 * heap trim interval (10-60 s) from the moment those frames are done with, frames still
 * flowing; the soak runs on past `frames` until the second window closes. Growth beyond 5%
 * means something keeps per-frame state.
 */
export async function soakFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: SoakOptions, progress: (s: string) => void): Promise<Figure[]> {
  const rig = await PipelineRig.create(inputs, broker, dir);
  const windowMs = Math.min(60_000, Math.max(10_000, rig.config.memory.trimIntervalMs));
  const readings: Array<{ frames: number; rss: number }> = [];
  let early: RssWindow | undefined;
  let late: RssWindow | undefined;
  const t0 = performance.now();
  try {
    await rig.soak(inputs.frames, opts.early, async (done) => {
      early ??= new RssWindow(windowMs);
      if (done >= opts.frames) late ??= new RssWindow(windowMs);
      if (done === opts.early || done % opts.every === 0) {
        readings.push({ frames: done, rss: mb(process.memoryUsage.rss()) });
        progress(await progressLine(rig, done, t0));
      }
      return !(late?.done ?? false);
    }, opts.fps);
  } finally {
    early?.stop();
    late?.stop();
    await rig.stop();
  }
  const earlyMb = early!.stop().map(mb);
  const lateMb = late!.stop().map(mb);
  const series = readings.filter((r) => r.frames % (opts.every * 5) === 0 || r.frames === opts.early || r.frames === opts.frames);
  const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}, median ${median(xs).toFixed(1)}, ${xs.length} samples`;
  return [
    figure({
      name: `RSS after ${opts.frames} frames vs after ${opts.early}`,
      unit: 'MB',
      better: 'lower',
      agent: lateMb,
      baseline: earlyMb,
      baselineName: `after ${opts.early} frames`,
      target: { of: 'ratio', op: '<=', limit: 1.05 },
      note: `camera path ${feed(opts)} with drift, explanations on a 5% sample, SQLite and MQTT, in a fresh process with the deployed ${Object.entries(DEPLOYED_ENV).map(([k, v]) => `${k}=${v}`).join(' ')} ${DEPLOYED_NODE_FLAGS.join(' ')}; RSS over ${windowMs / 1000} s after ${opts.early} frames ${range(earlyMb)}; after ${opts.frames} frames ${range(lateMb)}; single readings, MB by frames: ${series.map((r) => `${r.frames}: ${r.rss.toFixed(1)}`).join(', ')}; ${rig.explained} explained and ${rig.explainSkipped} skipped (explanations wait for an idle moment, which a camera path flat out seldom has)${opts.fps ? `; ${rig.dropped} frames dropped (newest wins)` : ''}`,
    }),
  ];
}

const feed = (opts: SoakOptions) => (opts.fps ? `fed at ${opts.fps} frames/s` : 'flat out');

/**
 * Where the RSS is: anonymous memory and the files mapped (node's and the libraries' code), the
 * event loop's JS heap (used of held) and buffers, the inference workers' JS heaps, glibc's heaps
 * (sharp, onnxruntime, SQLite, the buffers), and what the trims do.
 */
async function progressLine(rig: PipelineRig, done: number, t0: number): Promise<string> {
  const m = process.memoryUsage();
  const split = residentSplit();
  const native = nativeHeap();
  const workers = await rig.workerHeaps();
  const fps = done / ((performance.now() - t0) / 1000);
  const resident = split ? `anonymous ${mb(split.anon).toFixed(1)}, files ${mb(split.file).toFixed(1)}; ` : '';
  const heaps = `JS heap ${mb(m.heapUsed).toFixed(1)} of ${mb(m.heapTotal).toFixed(1)}, buffers ${mb(m.arrayBuffers).toFixed(1)}, workers' JS heaps ${workers.map((w) => `${mb(w.usedBytes).toFixed(1)} of ${mb(w.totalBytes).toFixed(1)}`).join(', ')}`;
  const glibc = native ? `, glibc in use ${mb(native.inUseBytes).toFixed(1)} (mmap'd ${mb(native.mmappedBytes).toFixed(1)}) and free ${mb(native.freeBytes).toFixed(1)}` : '';
  return `soak: ${done} frames, RSS ${mb(m.rss).toFixed(1)} MB (${resident}${heaps}${glibc}), ${fps.toFixed(0)} frames/s on average, ${rig.explained} explained and ${rig.explainSkipped} skipped (busy or over budget), ${rig.dropped} dropped, ${trims(rig)}`;
}
