import type { Tensor } from 'onnxruntime-node';
import { ModelSession } from '../../agent/inference/model-session.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';
import { BareModel, frameAt } from './bare-frame.js';
import type { BenchInputs } from './inputs.js';
import { figure, type Figure } from './report.js';
import { rotate } from './stats.js';

export interface ModelBenchOptions {
  reps: number;
  runs: number;
  frames: number;
}

/**
 * The two halves of a frame on their own: the agent's ImagePreprocessor and ModelSession
 * against the bare sharp and session.run. Also checks that both sides build the same
 * tensor, without which the frame figures would compare different work.
 */
export async function modelFigures(inputs: BenchInputs, opts: ModelBenchOptions): Promise<Figure[]> {
  const bare = await BareModel.load(inputs.modelPath, inputs.model.preprocess, inputs.model.threads, inputs.model.input);
  const session = await ModelSession.load(inputs.model, { baseDir: inputs.baseDir });
  const pre = new ImagePreprocessor(inputs.model.preprocess);
  const { frames } = inputs;
  const bareRun: number[] = [];
  const agentRun: number[] = [];
  const barePre: number[] = [];
  const agentPre: number[] = [];
  try {
    const tensor = await bare.preprocess(frameAt(frames, 0));
    await sameTensor(bare, pre, frames);
    for (let rep = 0; rep < opts.reps; rep++) {
      const runs = [
        async () => bareRun.push(await bare.inference(tensor, opts.runs)),
        async () => agentRun.push(await agentInference(session, tensor, opts.runs)),
        async () => barePre.push(await bare.preprocessing(frames, opts.frames)),
        async () => agentPre.push(await agentPreprocessing(pre, frames, opts.frames)),
      ];
      for (const run of rotate(runs, rep)) await run();
    }
  } finally {
    await session.release();
    await bare.release();
  }
  return [
    figure({ name: 'inference (ModelSession.run)', unit: 'ms/run', better: 'lower', agent: agentRun, baseline: bareRun, baselineName: 'bare session.run', note: `${opts.runs} runs per repetition, ${inputs.model.threads} intra-op thread(s)` }),
    figure({ name: 'preprocess (ImagePreprocessor)', unit: 'ms/frame', better: 'lower', agent: agentPre, baseline: barePre, baselineName: 'bare sharp+convert' }),
  ];
}

async function agentInference(session: ModelSession, tensor: Tensor, runs: number): Promise<number> {
  for (let i = 0; i < 5; i++) await session.run(tensor);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await session.run(tensor);
  return (performance.now() - t0) / runs;
}

async function agentPreprocessing(pre: ImagePreprocessor, frames: readonly Buffer[], n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await pre.toTensor(frameAt(frames, i));
  return (performance.now() - t0) / n;
}

async function sameTensor(bare: BareModel, pre: ImagePreprocessor, frames: readonly Buffer[]): Promise<void> {
  for (let i = 0; i < frames.length; i++) {
    const a = (await bare.preprocess(frameAt(frames, i))).data as ArrayLike<number>;
    const b = (await pre.toTensor(frameAt(frames, i))).tensor.data as ArrayLike<number>;
    const diff = a.length !== b.length ? 0 : Array.prototype.findIndex.call(a, (v: number, k: number) => v !== b[k]);
    if (a.length !== b.length || diff !== -1) throw new Error(`bare and agent tensors differ for frame ${i} (first difference at ${diff}): the baseline would not do the agent's work`);
  }
}
