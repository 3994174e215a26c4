import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import type { Tensor } from 'onnxruntime-node';
import type { ModelConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import { halfToFloat32Array } from '../preprocess/float16.js';
import { InferenceWorkers, type WorkerHeap } from './inference-workers.js';
import { SessionLease } from './session-lease.js';

export interface ModelSessionOptions {
  /** Relative model paths are resolved against this (normally the config file's folder). */
  readonly baseDir: string;
  /**
   * Worker threads with their own session that runs go to (config `pipeline.inferenceWorkers`),
   * started on the first run; 0 or absent runs on the calling thread.
   */
  readonly workers?: number;
  /**
   * The model's predictions get explanations: its low-priority worker starts with the live
   * ones at the first frame, so the memory under load is reached then and not later, at
   * whichever frame is first explained.
   */
  readonly explained?: boolean;
}

/**
 * The background worker runs at nice 10: on a contended core the live threads get about 90%
 * of it. It collects its heap after every run: each explanation batch is copied in (300 KB
 * per image), and it runs too few batches for V8 to collect them by itself. In a soak these
 * copies held on to: glibc's mmap'd blocks in use grew from 67 to 83 MB over 40,000 frames, and
 * held at 67-73 MB over 100,000 frames with this collection. A full collection of the worker's small heap takes a
 * millisecond or two, against a batch's hundreds.
 */
const BACKGROUND_TUNING = { nice: 10, collectEvery: 1 } as const;

/**
 * The background worker's session allocates each run's tensors from the system and frees
 * them after the run. With onnxruntime's arena, the first explanation batch (many images in one
 * run) grew the worker's arena by megabytes that it kept for the life of the process, at a
 * moment nobody could predict. Batches are rare and in the background; the live workers
 * keep the arena, where every run is the same size.
 */
const BACKGROUND_MEMORY = { enableCpuMemArena: false, enableMemPattern: false } as const;

type TensorMetadata = InferenceSession.ValueMetadata & { isTensor: true };

/** What the model declares, from whichever session read it. */
type SessionMetadata = Pick<InferenceSession, 'inputNames' | 'inputMetadata' | 'outputNames' | 'outputMetadata'>;

/** What the lease guards: a session on this thread, or sessions in worker threads. */
interface Runner {
  readonly session: InferenceSession;
  readonly workers: InferenceWorkers | undefined;
}
type LeasedRunner = Runner & { release(): Promise<void> };

/**
 * One loaded ONNX model. The onnxruntime session is created once and reused for every
 * frame; `run` may be called concurrently (onnxruntime allows it) and `release` waits for
 * runs in flight, so a model swap cannot free a session under a running frame.
 * With workers, the session on the event loop loads and checks the model and then only
 * serves as the fallback; runs go to the workers, which start with the first frames. (A
 * worker loading the model instead costs an idle agent about 6 MB more: onnxruntime's
 * one-time set-up is per process either way, and a worker adds its own Node environment.)
 */
export class ModelSession {
  readonly name: string;
  readonly version: string;
  /** The model file, resolved. */
  readonly path: string;
  readonly inputName: string;
  readonly outputName: string;
  /** The output's element type as onnxruntime reports it ('float16', 'float32', 'int64', ...). */
  readonly outputType: Tensor.Type;
  private readonly lease: SessionLease<LeasedRunner>;
  /** Only the chosen output: onnxruntime-node refuses to return non-tensor outputs (scikit-learn's maps) at all. */
  private readonly fetches: readonly string[];
  private readonly workers: InferenceWorkers | undefined;
  /** One low-priority worker for background runs (explanations), beside the live ones. */
  private readonly background: InferenceWorkers | undefined;
  private constructor(
    config: ModelConfig,
    path: string,
    runner: Runner,
    input: string,
    output: TensorMetadata,
    background: InferenceWorkers | undefined,
    private readonly explained: boolean,
  ) {
    this.name = config.name;
    this.version = config.version;
    this.path = path;
    const release = async () => {
      await Promise.all([runner.session.release(), runner.workers?.release(), background?.release()]);
    };
    this.lease = new SessionLease({ ...runner, release }, config.name);
    this.inputName = input;
    this.outputName = output.name;
    this.outputType = output.type;
    this.fetches = [output.name];
    this.workers = runner.workers;
    this.background = background;
  }

  /** Loads the model; AgentError E_MODEL_LOAD when the file is missing, unloadable or does not fit the config. */
  static async load(config: ModelConfig, opts: ModelSessionOptions): Promise<ModelSession> {
    const path = resolve(opts.baseDir, config.path);
    const refuse = (reason: string, cause?: unknown) =>
      new AgentError('E_MODEL_LOAD', `model "${config.name}" (${path}) could not be loaded: ${reason}`, { cause });

    try {
      if (!(await stat(path)).isFile()) throw refuse('not a file');
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw refuse((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err), err);
    }

    const options: InferenceSession.SessionOptions = {
      intraOpNumThreads: config.threads,
      // Frames already overlap in the pipeline; inter-op threads would only fight them for cores.
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // onnxruntime writes warnings (e.g. "opset 1 model") as coloured text straight to stderr,
      // outside the agent's JSON log, at every load; errors still reach us as exceptions.
      logSeverityLevel: 3,
      logId: config.name,
    };
    let session: InferenceSession;
    try {
      session = await InferenceSession.create(path, options);
    } catch (err) {
      // "Load model from <path> failed:<reason>": the path is already in our message.
      throw refuse(errorMessage(err).replace(/^Load model from .*? failed:\s*/s, ''), err);
    }

    try {
      const input = pickInput(config, session);
      const output = pickOutput(config, session);
      const workers = opts.workers ? new InferenceWorkers(opts.workers, path, options) : undefined;
      const background = opts.workers ? new InferenceWorkers(1, path, { ...options, ...BACKGROUND_MEMORY }, BACKGROUND_TUNING) : undefined;
      return new ModelSession(config, path, { session, workers }, input, output, background, opts.explained === true);
    } catch (err) {
      await session.release().catch(() => undefined);
      throw refuse(errorMessage(err), err);
    }
  }

  /**
   * Runs one input tensor; the chosen output as float32 (float16 and integer outputs converted).
   * `background` runs (explanations) go to a low-priority worker, so that when the cores are
   * contended the live frames get them.
   */
  async run(input: Tensor, opts: { background?: boolean } = {}): Promise<Float32Array> {
    return (await this.runOn(input, opts.background === true, false)).scores;
  }

  /**
   * As `run`, but the input's data moves to the worker thread instead of being copied there,
   * and `input` is its data back, to use again (the same data when the run happened here).
   * The tensor passed in must not be used afterwards.
   */
  runMoved(input: Tensor, opts: { background?: boolean } = {}): Promise<{ scores: Float32Array; input: Tensor.DataType }> {
    return this.runOn(input, opts.background === true, true);
  }

  private runOn(input: Tensor, background: boolean, move: boolean): Promise<{ scores: Float32Array; input: Tensor.DataType }> {
    return this.lease.hold(async (runner) => {
      try {
        const workers = background ? (this.background ?? runner.workers) : runner.workers;
        if (!background && this.explained) this.background?.prestart();
        const fromWorker = workers ? await workers.run(input, this.inputName, this.outputName, move) : undefined;
        if (fromWorker) return { scores: toFloat32(fromWorker.type, fromWorker.data), input: fromWorker.input ?? input.data };
        // Until a worker has loaded its session (the first frames), the run happens here.
        const value = (await runner.session.run({ [this.inputName]: input }, this.fetches))[this.outputName];
        if (!value) throw new Error(`output "${this.outputName}" missing from the result`);
        return { scores: toFloat32(value.type, value.data), input: input.data };
      } catch (err) {
        throw new AgentError('E_INFERENCE', `model "${this.name}" could not run: ${errorMessage(err)}`, { cause: err });
      }
    });
  }

  /** Worker threads running this model's sessions now (they start with the first run). */
  get workersStarted(): number {
    return (this.workers?.started ?? 0) + (this.background?.started ?? 0);
  }

  /** The JS heap of each running worker thread of this model, the background one last. */
  async workerHeaps(): Promise<WorkerHeap[]> {
    return [...((await this.workers?.heaps()) ?? []), ...((await this.background?.heaps()) ?? [])];
  }

  /** Frees the onnxruntime session (or the workers' sessions) once runs in flight are done. Safe to call twice. */
  release(): Promise<void> {
    return this.lease.release();
  }
}

/** Same as `ModelSession.load`. */
export function loadModel(config: ModelConfig, opts: ModelSessionOptions): Promise<ModelSession> {
  return ModelSession.load(config, opts);
}

function pickInput(config: ModelConfig, session: SessionMetadata): string {
  const names = session.inputNames;
  const name = config.input ?? names[0];
  if (name === undefined) throw new Error('the model has no inputs');
  const meta = session.inputMetadata.find((m) => m.name === name);
  if (!meta) throw new Error(`no input "${name}"; inputs: ${names.join(', ')}`);
  if (names.length > 1) throw new Error(`it needs ${names.length} inputs (${names.join(', ')}); the agent feeds one image`);
  if (!meta.isTensor) throw new Error(`input "${name}" is not a tensor`);
  checkInputFits(config, meta);
  return name;
}

/**
 * A dtype or image size the model does not take would fail every frame; say so at load.
 * Only rank-4 (image) inputs are compared dimension by dimension; symbolic dims match anything.
 */
function checkInputFits(config: ModelConfig, meta: TensorMetadata): void {
  const p = config.preprocess;
  const c = p.channels === 'GRAY' ? 1 : 3;
  const dims = p.layout === 'NCHW' ? [1, c, p.height, p.width] : [1, p.height, p.width, c];
  const fits =
    meta.type === p.dtype &&
    (meta.shape.length !== 4 || meta.shape.every((d, i) => typeof d !== 'number' || d < 0 || d === dims[i]));
  if (!fits) {
    const shape = `[${meta.shape.map((d) => (typeof d === 'number' ? d : d || '?')).join(',')}]`;
    throw new Error(
      `input "${meta.name}" takes ${meta.type} ${shape}, preprocess gives ${p.dtype} [${dims.join(',')}] (${p.layout} ${p.channels})`,
    );
  }
}

function pickOutput(config: ModelConfig, session: SessionMetadata): TensorMetadata {
  const wanted = config.output.tensor;
  const all = session.outputMetadata;
  const meta = wanted === undefined ? all.find((m) => m.isTensor) : all.find((m) => m.name === wanted);
  if (!meta) {
    throw new Error(wanted === undefined ? 'it has no tensor output' : `no output "${wanted}"; outputs: ${session.outputNames.join(', ')}`);
  }
  if (!meta.isTensor) throw new Error(`output "${meta.name}" is not a tensor (a sequence or map); name a tensor output`);
  if (meta.type === 'string') throw new Error(`output "${meta.name}" holds strings, not scores`);
  return meta;
}

function toFloat32(type: Tensor.Type, data: Tensor.DataType): Float32Array {
  if (data instanceof Float32Array) return data;
  // float16 arrives as its raw bits (Node 20 has no Float16Array); a real uint16 output does not.
  if (type === 'float16' && data instanceof Uint16Array) return halfToFloat32Array(data);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, (v) => Number(v));
  if (Array.isArray(data)) throw new Error('output holds strings, not scores');
  return Float32Array.from(data as ArrayLike<number>);
}
