import { readFile } from 'node:fs/promises';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { softmax, type Classifier } from '../../agent/inference/classifier.js';
import type { ModelSession } from '../../agent/inference/model-session.js';
import type { ImagePreprocessor } from '../../agent/preprocess/image.js';
import { GOLDEN_IMAGE_MAX_BYTES, type Golden } from '../../protocol/manifest.js';

/** Golden tolerance for float32 models: far above run-to-run noise, far below a changed model. */
export const DEFAULT_GOLDEN_TOLERANCE = 1e-3;
/** float16 keeps about 3 decimal digits; its rounding alone can reach 1e-3. */
export const FLOAT16_GOLDEN_TOLERANCE = 1e-2;

/** A golden image read from disk. */
export interface GoldenImage {
  file: string;
  data: Buffer;
}

/** Reads golden images, refusing missing, empty and oversized files before any model work starts. */
export async function readGoldenImages(files: readonly string[]): Promise<GoldenImage[]> {
  const images: GoldenImage[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
      throw new AgentError('E_GOLDEN', `golden ${file}: ${reason}`, { cause: err });
    }
    if (data.length === 0) throw new AgentError('E_GOLDEN', `golden ${file}: the file is empty`);
    if (data.length > GOLDEN_IMAGE_MAX_BYTES) {
      throw new AgentError('E_GOLDEN', `golden ${file}: ${data.length} bytes; at most ${GOLDEN_IMAGE_MAX_BYTES} (a camera frame reduced towards the model's input size is enough)`);
    }
    images.push({ file, data });
  }
  return images;
}

/** The parts of the agent that turn an image into scores, exactly as a gateway runs them. */
export interface AgentPipeline {
  preprocessor: ImagePreprocessor;
  session: ModelSession;
  classifier: Classifier;
}

/**
 * The scores the agent's own code gives each image: preprocessing, onnxruntime, then the
 * classifier's softmax decision, as the full vector in class order. A gateway's smoke test
 * repeats exactly this and compares element by element within `tolerance`.
 */
export async function computeGoldens(images: readonly GoldenImage[], agent: AgentPipeline, tolerance: number): Promise<Golden[]> {
  const goldens: Golden[] = [];
  for (const image of images) {
    try {
      const { tensor } = await agent.preprocessor.toTensor(image.data);
      const scores = await agent.session.run(tensor);
      // decode refuses empty and NaN scores, and says whether softmax applies to this output.
      const decoded = agent.classifier.decode(scores, scores.length);
      const values = decoded.softmaxApplied ? softmax(scores) : scores;
      const expected = Array.from(values, (v) => {
        if (!Number.isFinite(v)) throw new AgentError('E_MODEL_OUTPUT', `the model returned ${v} as a score`);
        // 9 significant digits read back to the same float32; the 17 of a double would only add noise.
        return Number(v.toPrecision(9));
      });
      goldens.push({ input: { kind: 'image', data: image.data.toString('base64') }, expected, tolerance });
    } catch (err) {
      const code = err instanceof AgentError ? err.code : 'E_GOLDEN';
      throw new AgentError(code, `golden ${image.file}: ${errorMessage(err)}`, { cause: err });
    }
  }
  return goldens;
}
