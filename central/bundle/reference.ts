import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import type { ModelConfig } from '../../agent/config/schema.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp']);

/** At least this many reference inputs: fewer make histograms too coarse to judge drift by. */
export const MIN_REFERENCE_SAMPLES = 20;

/** The image files of a reference folder (not recursive), sorted, or a refusal naming the folder. */
export async function referenceImages(dir: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) {
      throw new Error(extname(dir).toLowerCase() === '.csv' ? 'a CSV of feature rows profiles a sensor model: edgectl profile --config EDGE-AGENT.yaml --name MODEL --reference FILE.csv; a camera model takes a folder of images' : 'not a folder');
    }
    names = await readdir(dir);
  } catch (err) {
    throw new AgentError('E_REFERENCE', `--reference ${dir}: ${errorMessage(err)}`);
  }
  const files = names.filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort().map((n) => join(dir, n));
  if (files.length < MIN_REFERENCE_SAMPLES) {
    throw new AgentError('E_REFERENCE', `--reference ${dir}: ${files.length} images; a reference profile needs at least ${MIN_REFERENCE_SAMPLES}`);
  }
  return files;
}

/**
 * Runs an image model over reference images with the agent's own code and returns the
 * profile drift is judged against. An image the model cannot take is a refusal naming it:
 * a reference set must be clean.
 */
export async function profileImages(config: ModelConfig, files: readonly string[], progress: (line: string) => void = () => undefined): Promise<ReferenceProfile> {
  const model = await ImageClassifierModel.load({ ...config, drift: { ...config.drift, enabled: true } }, '.');
  try {
    const builder = new ProfileBuilder({ labels: config.labels });
    let decile = 0;
    for (const [i, file] of files.entries()) {
      let result;
      try {
        result = await model.classify(await readFile(file));
      } catch (err) {
        throw new AgentError('E_REFERENCE', `reference image ${file}: ${errorMessage(err)}`);
      }
      builder.add({ image: result.inputs!.image, label: result.label, top1: result.score, entropy: result.inputs!.entropy });
      const reached = Math.floor(((i + 1) * 10) / files.length);
      if (reached > decile) progress(`reference: ${(decile = reached) * 10}% (${i + 1}/${files.length} images)`);
    }
    return builder.build();
  } finally {
    await model.release();
  }
}
