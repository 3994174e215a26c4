import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../helpers/broker.js';
import { PipelineRig } from '../agent-rig.js';
import { BareModel } from '../bare-frame.js';
import { loadInputs } from '../inputs.js';
import type { AgentConfig } from '../../../agent/config/schema.js';
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const inputs = await loadInputs(dir);
const broker = await startBroker();
const bare = await BareModel.load(inputs.modelPath, inputs.model.preprocess, 1, inputs.model.input);
const variants: [string, (c: AgentConfig) => void][] = [
  ['default', () => {}],
  ['linger0', (c) => { c.buffer.lingerMs = 0; }],
  ['batch1', (c) => { c.buffer.batchSize = 1; }],
  ['conc4', (c) => { c.pipeline.concurrency = 4; }],
  ['conc8', (c) => { c.pipeline.concurrency = 8; c.pipeline.queueSize = 8; }],
];
const rigs = [];
for (const [name, tune] of variants) rigs.push([name, await PipelineRig.create(inputs, broker, join(dir, name), tune)] as const);
for (let r = 0; r < 2; r++) {
  const o = await bare.overlapped(inputs.frames, 20, 200);
  console.log('overlapped', o.fps.toFixed(1));
  for (const [name, rig] of rigs) {
    const a = await rig.throughput(inputs.frames, 20, 200);
    console.log(name, a.toFixed(1));
  }
}
for (const [, rig] of rigs) await rig.stop();
await bare.release();
await broker.stop();
