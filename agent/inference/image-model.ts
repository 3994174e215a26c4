import type { ModelConfig } from '../config/schema.js';
import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';
import { ImagePreprocessor } from '../preprocess/image.js';
import { Classifier, softmax } from './classifier.js';
import { loadLabels } from './labels.js';
import { ModelSession } from './model-session.js';

/** An image classifier as the pipeline sees it: preprocessing, one onnxruntime session, output decoding. */
export class ImageClassifierModel implements ImageModel {
  private constructor(
    private readonly session: ModelSession,
    private readonly preprocessor: ImagePreprocessor,
    private readonly classifier: Classifier,
  ) {}

  /** Loads the model once; throws AgentError E_MODEL_LOAD / E_MODEL_LABELS naming the model and the reason. */
  static async load(config: ModelConfig, baseDir: string): Promise<ImageClassifierModel> {
    const labels = await loadLabels(config, baseDir);
    const session = await ModelSession.load(config, { baseDir });
    return new ImageClassifierModel(session, new ImagePreprocessor(config.preprocess), new Classifier(config.output, labels));
  }

  get name(): string {
    return this.session.name;
  }

  get version(): string {
    return this.session.version;
  }

  async classify(image: Buffer): Promise<Classification> {
    const { tensor } = await this.preprocessor.toTensor(image);
    const scores = await this.session.run(tensor);
    return this.classifier.decode(scores);
  }

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

  release(): Promise<void> {
    return this.session.release();
  }
}
