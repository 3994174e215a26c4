import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker } from '../helpers/broker.js';
import { drainFigures } from './bench-drain.js';
import { driftFigures } from './bench-drift.js';
import { explainFigures } from './bench-explain.js';
import { frameFigures } from './bench-frames.js';
import { idleFigures } from './bench-idle.js';
import { ioFigures } from './bench-io.js';
import { modelFigures } from './bench-model.js';
import { opcuaFigures } from './bench-opcua.js';
import { loadInputs, REPO_ROOT } from './inputs.js';
import { runMeta } from './meta.js';
import { deployedSoakFigures } from './bench-soak.js';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from './deployed-env.js';
import { table, writeReport, type Figure } from './report.js';

/*
 * `npm run bench`: the agent against bare loops doing the same work, in one process run,
 * interleaved repetitions, per docs/benchmarks.md. BENCH_REPS changes the repetitions,
 * BENCH_DATA the folder of real models and images, BENCH_LOG the agent's log level,
 * BENCH_CAMERA_FPS the camera rate the latency target is measured at.
 * `npm run bench -- --soak` adds the memory soak (100k frames, BENCH_SOAK_FRAMES to change;
 * about 15-20 minutes on a 2-core gateway, flat out; BENCH_SOAK_FPS feeds it at a camera's steady rate
 * instead, BENCH_SOAK_EVERY sets how often it prints where the memory is); `BENCH_ONLY=soak` runs only the soak.
 * The bench runs in a node started as the systemd unit and the image start the agent (the
 * V8 flags and allocator setting of deployed-env.ts), so agent and baselines share them.
 */

const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 5));
const FRAMES = { reps: REPS, warm: 20, frames: 200, latencyFrames: 600, cameraFps: Number(process.env.BENCH_CAMERA_FPS ?? 30), load: 0.7 };
const MODEL = { reps: REPS, runs: 100, frames: 48 };
const IO = { reps: REPS, storeRows: 20_000, drainRows: 20_000 };
const DRAIN = { reps: REPS, backlog: Number(process.env.BENCH_BACKLOG ?? 200_000), load: FRAMES.load };
/** BENCH_ONLY=drain,io runs only those parts (model, frames, explain, io, drain, drift, idle, opcua). */
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').filter(Boolean));
const part = (name: string) => ONLY.size === 0 || ONLY.has(name);
const SOAK_FPS = Number(process.env.BENCH_SOAK_FPS ?? 0);
const SOAK = process.argv.includes('--soak') || ONLY.has('soak')
  ? { frames: Number(process.env.BENCH_SOAK_FRAMES ?? 100_000), early: 1000, every: Number(process.env.BENCH_SOAK_EVERY ?? 10_000), ...(SOAK_FPS > 0 ? { fps: SOAK_FPS } : {}) }
  : undefined;
const IDLE_REPS = Math.min(REPS, 3);
const OPCUA = { reps: REPS, sliceS: 4, tags: 1000, windows: 500 };
const RESULTS = join(REPO_ROOT, 'test', 'bench', 'results', 'latest.json');

const progress = (s: string) => process.stderr.write(`  ${s}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'edge-bench-'));
  const broker = await startBroker();
  try {
    const inputs = await loadInputs(dir);
    console.log(`# ${inputs.note}`);
    console.log(`# node ${process.version} ${DEPLOYED_NODE_FLAGS.join(' ')}, ${Object.entries(DEPLOYED_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}, as the agent is deployed`);
    const figures: Figure[] = [];
    if (part('model')) {
      progress('model: inference and preprocessing alone');
      figures.push(...(await modelFigures(inputs, MODEL)));
    }
    if (part('frames')) {
      progress('camera pipeline against the bare frame loops');
      figures.push(...(await frameFigures(inputs, broker, join(dir, 'frames'), FRAMES, progress)));
    }
    if (part('explain')) {
      progress('live throughput and latency with explanations on and off');
      figures.push(...(await explainFigures(inputs, broker, join(dir, 'explain'), { reps: REPS, warm: FRAMES.warm, frames: FRAMES.frames, load: FRAMES.load }, progress)));
    }
    if (part('io')) {
      progress('store and sync against bare SQLite and bare publish');
      figures.push(...(await ioFigures(inputs, broker, join(dir, 'io'), IO)));
    }
    if (part('drain')) {
      progress('backlog drain while live inference runs');
      figures.push(...(await drainFigures(inputs, broker, join(dir, 'drain'), DRAIN, progress)));
    }
    if (part('drift')) {
      progress('drift work per prediction against bare inference');
      figures.push(...(await driftFigures(inputs, join(dir, 'drift.db'), { reps: REPS, runs: 100, samples: 2000 })));
    }
    if (part('idle')) {
      progress('idle memory and start-up, in fresh processes');
      figures.push(...(await idleFigures(inputs, broker, join(dir, 'idle'), IDLE_REPS)));
    }
    if (part('opcua')) {
      progress('OPC-UA: 1,000 monitored tags at 100 ms from the simulated plant, feature assembly');
      figures.push(...(await opcuaFigures(join(dir, 'opcua'), OPCUA, progress)));
    }

    if (SOAK) {
      progress(`memory soak: ${SOAK.frames} frames through the camera path, ${SOAK.fps ? `offered at ${SOAK.fps} frames/s` : 'flat out'}`);
      figures.push(...(await deployedSoakFigures(broker, join(dir, 'soak'), SOAK, progress)));
    }

    const seconds = (performance.now() - started) / 1000;
    console.log(`\n${table(figures)}\n`);
    const meta = runMeta(broker, { ...inputs.meta, dataNote: inputs.note, reps: { frames: FRAMES, soak: SOAK, model: MODEL, io: IO, idle: IDLE_REPS, opcua: OPCUA }, seconds: Math.round(seconds) });
    writeReport(RESULTS, figures, meta);
    console.log(`wrote ${RESULTS} (${Math.round(seconds)} s)`);
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (DEPLOYED_NODE_FLAGS.every((f) => process.execArgv.includes(f))) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  const again = spawnSync(process.execPath, [...DEPLOYED_NODE_FLAGS, '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, ...DEPLOYED_ENV } });
  process.exitCode = again.status ?? 1;
}
