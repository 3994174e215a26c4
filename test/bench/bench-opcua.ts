import { join } from 'node:path';
import { pino } from 'pino';
import { systemClock } from '../../agent/clock.js';
import { OpcuaServerSchema, WindowSchema, type FeatureFunction } from '../../agent/config/sensor-schema.js';
import { benchNodeId } from '../../agent/demo/plant-server.js';
import { FeatureAssembler } from '../../agent/features/assemble.js';
import { TagBoard } from '../../agent/features/tag-board.js';
import { OpcuaLink } from '../../agent/sources/opcua/opcua-link.js';
import { openPki } from '../../agent/sources/opcua/pki.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { waitFor } from '../helpers/wait.js';
import { figure, type Figure } from './report.js';

export interface OpcuaBenchOptions {
  reps: number;
  /** Seconds per measured slice of the stream. */
  sliceS: number;
  tags: number;
  /** Windows assembled per repetition. */
  windows: number;
}

const FNS: FeatureFunction[] = ['last', 'mean', 'min', 'max', 'std', 'slope', 'count'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * 1,000 counters on the simulated plant, each incremented every 100 ms, monitored by the
 * agent's own OPC-UA link at 100 ms sampling over SignAndEncrypt. Every counter value
 * skipped is a lost notification. Feature assembly is timed on the live tag board
 * against the same statistics computed on plain arrays.
 */
export async function opcuaFigures(dir: string, o: OpcuaBenchOptions, progress: (s: string) => void): Promise<Figure[]> {
  const cleanups: Array<() => unknown> = [];
  const host = { after: (fn: () => unknown) => cleanups.push(fn) };
  try {
    const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), benchTags: o.tags, tickMs: 100, partCycleMs: 0 });
    trustCertificate(join(dir, 'pki'), plant.certificate);
    const pki = await openPki(join(dir, 'pki'), 'edge-agent-bench');
    cleanups.push(() => pki.manager.dispose());
    const board = new TagBoard();
    const names = Array.from({ length: o.tags }, (_, i) => `b${i}`);
    const model = new FeatureAssembler(board, names.slice(0, 10).flatMap((tag) => FNS.map((fn) => ({ tag, fn }))), WindowSchema.parse({ everyMs: 1000, sizeMs: 1000 }));
    const wide = new FeatureAssembler(board, names.map((tag) => ({ tag, fn: 'mean' as const })), WindowSchema.parse({ everyMs: 1000, sizeMs: 1000 }));
    const last = new Map<string, number>();
    let delivered = 0;
    let lost = 0;
    let repeated = 0;
    board.onSample((s) => {
      if (typeof s.value !== 'number') return;
      const prev = last.get(s.tag);
      last.set(s.tag, s.value);
      delivered++;
      if (prev === undefined) return;
      if (s.value > prev + 1) lost += s.value - prev - 1;
      if (s.value <= prev) repeated++;
    });
    const config = OpcuaServerSchema.parse({
      id: 'bench',
      endpoint: plant.endpoint,
      publishingIntervalMs: 100,
      tags: names.map((name, i) => ({ name, nodeId: benchNodeId(i), samplingMs: 100, queueSize: 10 })),
    });
    const link = new OpcuaLink({ config, pki, applicationName: 'edge-agent-bench', baseDir: dir, board, events: { record: () => {} }, log: pino({ level: 'silent' }), clock: systemClock, trustHint: '' });
    link.start();
    cleanups.push(() => link.stop());
    await waitFor(`all ${o.tags} tags delivering`, () => last.size === o.tags, 60_000);
    await sleep(2000);

    const rate: number[] = [];
    const expectedRate: number[] = [];
    const lostPerSlice: number[] = [];
    const expectedPerSlice: number[] = [];
    for (let rep = 0; rep < o.reps; rep++) {
      progress(`opcua: slice ${rep + 1}/${o.reps} (${o.sliceS} s, ${o.tags} tags)`);
      const t0 = await plant.send({ type: 'stats' });
      const [d0, l0] = [delivered, lost];
      const start = performance.now();
      await sleep(o.sliceS * 1000);
      const seconds = (performance.now() - start) / 1000;
      const t1 = await plant.send({ type: 'stats' });
      rate.push((delivered - d0) / seconds);
      expectedRate.push(((t1.ticks! - t0.ticks!) * o.tags) / seconds);
      lostPerSlice.push(lost - l0);
      expectedPerSlice.push((t1.ticks! - t0.ticks!) * o.tags);
    }
    const assembleModel: number[] = [];
    const bareModel: number[] = [];
    const assembleWide: number[] = [];
    const bareWide: number[] = [];
    for (let rep = 0; rep < o.reps; rep++) {
      const end = Date.now() - 200;
      assembleModel.push(timePer(o.windows, () => model.assemble(end, performance.now())));
      assembleWide.push(timePer(Math.max(10, o.windows / 10), () => wide.assemble(end, performance.now())));
      const arrays = names.map((n) => snapshot(board, n, end));
      bareModel.push(timePer(o.windows, () => arrays.slice(0, 10).forEach((a) => bareStats(a))));
      bareWide.push(timePer(Math.max(10, o.windows / 10), () => arrays.forEach((a) => bareStats(a))));
    }
    const overflow = link.status.overflows;
    return [
      figure({ name: `OPC-UA notifications, ${o.tags} tags at 100 ms (SignAndEncrypt)`, unit: 'samples/s', better: 'higher', agent: rate, baseline: expectedRate, baselineName: 'server updates', note: `${o.sliceS} s per slice; notifications straddling a slice's edges make the ratio wobble around 1; the lost figure is the test` }),
      figure({ name: 'OPC-UA lost notifications', unit: 'samples', better: 'lower', agent: lostPerSlice, baseline: expectedPerSlice, baselineName: 'notifications expected', target: { of: 'value', op: '<=', limit: 0 }, note: `counter values skipped per slice; ${repeated} repeated, ${overflow} queue overflows reported by the server` }),
      figure({ name: 'feature assembly, 10 tags × 7 features', unit: 'ms/window', better: 'lower', agent: assembleModel, baseline: bareModel, baselineName: 'bare stats on arrays', target: { of: 'value', op: '<=', limit: 1 }, note: 'the agent scans its live windows, checks staleness and quality; the bare loop gets the samples already cut out' }),
      figure({ name: `feature assembly, ${o.tags} tags × mean`, unit: 'ms/window', better: 'lower', agent: assembleWide, baseline: bareWide, baselineName: 'bare stats on arrays', target: { of: 'value', op: '<=', limit: 1 } }),
    ];
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

function timePer(n: number, fn: () => void): number {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t0) / n;
}

function snapshot(board: TagBoard, tag: string, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  board.tags.get(tag)!.window.forEach((s) => {
    if (typeof s.value === 'number' && s.sourceTs > end - 1000 && s.sourceTs <= end) out.push([s.sourceTs, s.value]);
  });
  return out;
}

/** The seven statistics, written the obvious way: what a hand-written loop would do. */
function bareStats(a: Array<[number, number]>): number[] {
  const v = a.map((x) => x[1]);
  const n = v.length;
  const mean = v.reduce((s, x) => s + x, 0) / n;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
  const t = a.map((x) => x[0] / 1000);
  const tm = t.reduce((s, x) => s + x, 0) / n;
  const slope = t.reduce((s, x, i) => s + (x - tm) * (v[i]! - mean), 0) / (t.reduce((s, x) => s + (x - tm) ** 2, 0) || 1);
  return [v[n - 1]!, mean, Math.min(...v), Math.max(...v), std, slope, n];
}
