import { Tensor } from 'onnxruntime-node';
import type { ModelConfig } from '../config/schema.js';
import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';
import { ImagePreprocessor, type PreprocessedImage } from '../preprocess/image.js';
import { InputPool, type Pixels } from '../preprocess/input-pool.js';
import { viewOf } from '../preprocess/frame-view.js';
import { inputStats } from '../drift/input-stats.js';
import { Classifier, softmax } from './classifier.js';
import { loadLabels } from './labels.js';
import type { WorkerHeap } from './inference-workers.js';
import { ModelSession } from './model-session.js';

/** An image classifier as the pipeline sees it: preprocessing, one onnxruntime session, output decoding. */
export class ImageClassifierModel implements ImageModel {
  /** The live frames' input buffers: one moves to an inference worker for a run and comes back with its answer. */
  private readonly inputs: InputPool;

  private constructor(
    private readonly session: ModelSession,
    private readonly preprocessor: ImagePreprocessor,
    private readonly classifier: Classifier,
  ) {
    this.inputs = new InputPool(preprocessor.spec.dtype, preprocessor.dims.reduce((a, b) => a * b, 1));
  }

  /** Loads the model once; throws AgentError E_MODEL_LOAD / E_MODEL_LABELS naming the model and the reason. */
  static async load(config: ModelConfig, baseDir: string): Promise<ImageClassifierModel> {
    const labels = await loadLabels(config, baseDir);
    const session = await ModelSession.load(config, { baseDir, workers: config.workers, explained: config.explain !== undefined });
    const model = new ImageClassifierModel(session, new ImagePreprocessor(config.preprocess), new Classifier(config.output, labels));
    model.measureInputs = config.drift.enabled;
    return model;
  }

  get name(): string {
    return this.session.name;
  }

  get version(): string {
    return this.session.version;
  }

  /** The JS heap of each of the model's worker threads (ModelSession.workerHeaps). */
  workerHeaps(): Promise<WorkerHeap[]> {
    return this.session.workerHeaps();
  }

  async classify(image: Buffer): Promise<Classification> {
    const t0 = performance.now();
    const pre = await this.preprocessor.toTensor(image, viewOf(image), this.inputs);
    const t1 = performance.now();
    // The input moves to the inference worker and back; a failed run's moved input is lost,
    // and the pool makes a new one.
    const taken = pre.tensor.data as Pixels;
    let scores: Float32Array;
    let back: Pixels | undefined;
    try {
      const out = await this.session.runMoved(pre.tensor);
      scores = out.scores;
      back = out.input as Pixels;
    } finally {
      this.inputs.give(back ?? taken);
    }
    const timings = { preprocessMs: t1 - t0, inferenceMs: performance.now() - t1 };
    const decoded = this.classifier.decode(scores);
    if (!this.measureInputs) return { ...decoded, timings };
    const { width, height } = this.preprocessor.spec;
    return { ...decoded, timings, inputs: inputStats(pre.pixels, width, height, this.preprocessor.channels, scores, decoded.softmaxApplied) };
  }

  /** Whether answers carry input statistics for drift (the config's `drift.enabled`). */
  measureInputs = false;

  /**
   * The full score vector for one image, in class order, after softmax where the model's
   * output config applies it: what a manifest's golden samples record and the smoke test compares.
   */
  async scoreVector(image: Buffer): Promise<Float32Array> {
    const { tensor } = await this.preprocessor.toTensor(image);
    const scores = await this.session.run(tensor);
    const decoded = this.classifier.decode(scores, scores.length);
    return decoded.softmaxApplied ? softmax(scores) : scores;
  }

  /** Whether several inputs go through the session in one run; undefined until first tried. */
  batched: boolean | undefined;

  /** Decodes and preprocesses one image into this model's input, as `classify` does. */
  preprocess(image: Buffer): Promise<PreprocessedImage> {
    return this.preprocessor.toTensor(image);
  }

  /** The preprocessing spec the model's input was made with. */
  get inputLayout(): 'NCHW' | 'NHWC' {
    return this.preprocessor.spec.layout;
  }

  /** The label of a class index (the index itself when the labels do not name it). */
  labelOf(index: number): string {
    return this.classifier.labelOf(index);
  }

  /**
   * Score vectors (as `scoreVector` gives them) for several inputs of this model's shape
   * through the same session: one run of a [N, …] batch when the model's batch dimension
   * is free, else one run per input. The first call with two or more inputs finds out which.
   * This is explanation work: it runs as background work, below the live frames' priority.
   */
  async scoreInputs(inputs: readonly Tensor[]): Promise<Float32Array[]> {
    if (inputs.length === 0) return [];
    if (inputs.length > 1 && this.batched !== false) {
      try {
        // A fresh batch: moved to the worker, not copied (16 inputs are about 5 MB).
        const { scores: out } = await this.session.runMoved(stack(inputs), BACKGROUND);
        this.batched = true;
        const width = out.length / inputs.length;
        return inputs.map((_, i) => this.probabilities(out.subarray(i * width, (i + 1) * width)));
      } catch (err) {
        // A fixed batch dimension of 1 refuses a batch: never try again for this session.
        if (this.batched === true) throw err;
        this.batched = false;
      }
    }
    const out: Float32Array[] = [];
    for (const input of inputs) out.push(this.probabilities(await this.session.run(input, BACKGROUND)));
    return out;
  }

  private probabilities(scores: Float32Array): Float32Array {
    const decoded = this.classifier.decode(scores, 1);
    return decoded.softmaxApplied ? softmax(scores) : Float32Array.from(scores);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

const BACKGROUND = { background: true };

/** Inputs of one shape [1, …] stacked into [N, …]. */
function stack(inputs: readonly Tensor[]): Tensor {
  const first = inputs[0]!;
  const size = first.size;
  const data = first.data as Float32Array | Uint16Array | Uint8Array;
  const out = new (data.constructor as { new (n: number): Float32Array | Uint16Array | Uint8Array })(size * inputs.length);
  inputs.forEach((t, i) => out.set(t.data as Float32Array, i * size));
  return new Tensor(first.type as 'float32', out as Float32Array, [inputs.length, ...first.dims.slice(1)]);
}
