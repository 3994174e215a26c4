import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { TabularModelConfig } from '../config/sensor-schema.js';
import { AgentError, errorMessage } from '../errors.js';
import { SessionLease } from './session-lease.js';
import { TabularDecoder, type OutputPlan, type TabularResult } from './tabular-decode.js';

export type { TabularResult };

const LABEL_NAMES = ['output_label', 'label', 'labels', 'predicted_label'];
const SCORE_NAMES = ['output_probability', 'probabilities', 'scores', 'variable', 'output', 'score', 'predictions'];

/**
 * A model over one row of features: plain tensors, regressors, classifiers (with
 * scikit-learn's probability maps made readable) and anomaly detectors.
 */
export class TabularModel {
  private readonly lease: SessionLease;

  private constructor(
    readonly config: TabularModelConfig,
    session: InferenceSession,
    private readonly inputName: string,
    readonly width: number,
    private readonly fetches: string[],
    private readonly decoder: TabularDecoder,
  ) {
    this.lease = new SessionLease(session, config.name);
  }

  get name(): string {
    return this.config.name;
  }

  get version(): string {
    return this.config.version;
  }

  /** Loads the model; AgentError E_MODEL_LOAD naming the model and the reason. */
  static async load(config: TabularModelConfig, baseDir: string): Promise<TabularModel> {
    const path = resolve(baseDir, config.path);
    const refuse = (reason: string, cause?: unknown) =>
      new AgentError('E_MODEL_LOAD', `model "${config.name}" (${path}) could not be loaded: ${reason}`, { cause });
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw refuse((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err), err);
    }
    let session: InferenceSession;
    let plan: OutputPlan;
    try {
      ({ session, plan } = await openSession(config, bytes));
    } catch (err) {
      throw refuse(errorMessage(err).replace(/^Load model from .*? failed:\s*/s, ''), err);
    }
    try {
      const input = config.input ?? session.inputNames[0];
      const meta = session.inputMetadata.find((m) => m.name === input);
      if (!meta || !meta.isTensor) throw new Error(`no tensor input "${input}"; inputs: ${session.inputNames.join(', ')}`);
      if (session.inputNames.length > 1) throw new Error(`it needs ${session.inputNames.length} inputs; the agent feeds one feature row`);
      if (meta.type !== 'float32') throw new Error(`input "${input}" takes ${meta.type}; the agent feeds float32 features`);
      const width = meta.shape.at(-1);
      if (typeof width === 'number' && width > 0 && width !== config.features.length) {
        throw new Error(`input "${input}" takes ${width} features, the config lists ${config.features.length}`);
      }
      const fetches = [plan.label, plan.scores].filter((n): n is string => n !== undefined);
      return new TabularModel(config, session, input!, config.features.length, fetches, new TabularDecoder(plan, config));
    } catch (err) {
      await session.release().catch(() => undefined);
      throw refuse(errorMessage(err), err);
    }
  }

  /** Runs one feature row. */
  async predict(features: Float32Array): Promise<TabularResult> {
    return this.lease.hold(async (session) => {
      if (features.length !== this.width) throw new AgentError('E_INFERENCE', `model "${this.name}" takes ${this.width} features, got ${features.length}`);
      try {
        const out = await session.run({ [this.inputName]: new Tensor('float32', features, [1, this.width]) }, this.fetches);
        return this.decoder.decode(out);
      } catch (err) {
        if (err instanceof AgentError) throw err;
        throw new AgentError('E_INFERENCE', `model "${this.name}" could not run: ${errorMessage(err)}`, { cause: err });
      }
    });
  }

  release(): Promise<void> {
    return this.lease.release();
  }
}

async function create(config: TabularModelConfig, bytes: Uint8Array): Promise<InferenceSession> {
  return InferenceSession.create(bytes, {
    intraOpNumThreads: config.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    logId: config.name,
  });
}

/** The session and the outputs to read; a map output behind a ZipMap is swapped for its tensor. */
async function openSession(config: TabularModelConfig, bytes: Uint8Array): Promise<{ session: InferenceSession; plan: OutputPlan }> {
  let session = await create(config, bytes);
  const meta = session.outputMetadata;
  const pick = (wanted: string | undefined, usual: string[], what: string): string | undefined => {
    if (wanted !== undefined) {
      if (!meta.some((m) => m.name === wanted)) throw new Error(`no ${what} output "${wanted}"; outputs: ${session.outputNames.join(', ')}`);
      return wanted;
    }
    return usual.find((n) => meta.some((m) => m.name === n));
  };
  const { kind } = config.output;
  let label = kind === 'classifier' || kind === 'anomaly' ? pick(config.output.label, LABEL_NAMES, 'label') : undefined;
  let scores = pick(config.output.scores, SCORE_NAMES, 'scores');
  if (scores === label) scores = undefined;
  // A model with one unnamed tensor output (a plain network) is its scores.
  if (label === undefined && scores === undefined) scores = meta.find((m) => m.isTensor && m.type !== 'string')?.name;
  if (scores === undefined && label === undefined) throw new Error('it has no tensor output to read');
  const plan: OutputPlan = { kind, ...(label === undefined ? {} : { label }) };
  const scoreMeta = meta.find((m) => m.name === scores);
  if (scoreMeta && !scoreMeta.isTensor) {
    // Loaded here: its protobuf library is only needed for scikit-learn's ZipMap outputs.
    const { exposeZipMapInput } = await import('./zipmap.js');
    const exposed = exposeZipMapInput(bytes, scoreMeta.name);
    if (!exposed) throw new Error(`output "${scoreMeta.name}" is not a tensor (a sequence or map) and no ZipMap feeds it; name a tensor output`);
    await session.release();
    session = await create(config, exposed.bytes);
    scores = exposed.tensor;
    plan.columnLabels = exposed.classLabels;
  }
  if (scores !== undefined) plan.scores = scores;
  if (label !== undefined && !meta.find((m) => m.name === label)?.isTensor) label = undefined;
  if (label === undefined) delete plan.label;
  return { session, plan };
}
