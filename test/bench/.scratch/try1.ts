import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../helpers/broker.js';
import { PipelineRig } from '../agent-rig.js';
import { BareModel } from '../bare-frame.js';
import { loadInputs } from '../inputs.js';
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const inputs = await loadInputs(dir);
console.log(inputs.note, inputs.meta);
const broker = await startBroker();
const bare = await BareModel.load(inputs.modelPath, inputs.model.preprocess, 1, inputs.model.input);
const rig = await PipelineRig.create(inputs, broker, dir);
for (let r = 0; r < 3; r++) {
  const s = await bare.sequential(inputs.frames, 20, 200);
  const o = await bare.overlapped(inputs.frames, 20, 200);
  const a = await rig.throughput(inputs.frames, 20, 200);
  const p = await rig.paced(inputs.frames, 20, 200, a * 0.7);
  const lat = p.latencyMs.sort((x, y) => x - y);
  const fm = s.frameMs.sort((x, y) => x - y);
  console.log({ seq: s.fps.toFixed(1), seqMed: fm[100]!.toFixed(1), over: o.fps.toFixed(1), agent: a.toFixed(1), p50: lat[100]!.toFixed(1), p99: lat[197]!.toFixed(1), dropped: p.dropped });
}
await rig.stop();
await bare.release();
await broker.stop();
