import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelSchema, type AgentConfigInput, type ModelConfig } from '../../agent/config/schema.js';
import { DEFECT_MODEL, writeDefectModel } from '../../agent/demo/defect-model.js';
import { FRAME_COUNT, FRAME_HEIGHT, FRAME_WIDTH, JPEG_QUALITY, photoFrames, syntheticFrames } from './frames.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** BENCH_DATA points elsewhere, e.g. at a missing folder to try the fallback. */
export const SHARED_DATA = process.env.BENCH_DATA ?? join(REPO_ROOT, '..', 'shared', 'data');

type ModelEntry = AgentConfigInput['models'][number];

export interface BenchInputs {
  kind: 'squeezenet' | 'defect';
  /** One line for the report saying what was measured. */
  note: string;
  /** The `models[]` entry as a config file would hold it; the rig parses it with the agent's schema. */
  entry: ModelEntry;
  /** The same entry with the schema's defaults applied. */
  model: ModelConfig;
  /** Folder the entry's relative paths are resolved against. */
  baseDir: string;
  modelPath: string;
  frames: Buffer[];
  meta: Record<string, unknown>;
}

const SQUEEZENET: ModelEntry = {
  name: 'squeezenet',
  version: '1.1-fp16',
  path: 'winml_SqueezeNet_fp16.onnx',
  labelsFile: 'imagenet_labels_winml.txt',
  threads: 1,
  // ../shared/data/README.md: data_0 float16 [1,3,224,224], BGR 0–255.
  preprocess: { width: 224, height: 224, channels: 'BGR', layout: 'NCHW', scale: 1, mean: [0], std: [1], dtype: 'float16' },
};

/** SqueezeNet and photo-derived frames when ../shared/data is there; the generated defect model and synthetic parts otherwise. */
export async function loadInputs(workDir: string): Promise<BenchInputs> {
  const modelsDir = join(SHARED_DATA, 'models');
  const photosDir = join(SHARED_DATA, 'images', 'photos');
  const photos = ['ortex_goldfish.jpg', 'winml_kitten.png'].map((f) => join(photosDir, f));
  if (existsSync(join(modelsDir, SQUEEZENET.path)) && photos.every((p) => existsSync(p))) {
    const frames = await photoFrames(photos);
    return finish('squeezenet', `SqueezeNet fp16 from ${SHARED_DATA}; ${FRAME_COUNT} ${FRAME_WIDTH}×${FRAME_HEIGHT} JPEGs (q${JPEG_QUALITY}) made from the goldfish/kitten photos`, SQUEEZENET, modelsDir, frames, photos);
  }
  const modelPath = await writeDefectModel(join(workDir, 'models'));
  const entry: ModelEntry = {
    name: DEFECT_MODEL.name,
    version: DEFECT_MODEL.version,
    path: modelPath,
    labels: [...DEFECT_MODEL.labels],
    input: DEFECT_MODEL.input,
    threads: 1,
    preprocess: { ...DEFECT_MODEL.preprocess, mean: [...DEFECT_MODEL.preprocess.mean], std: [...DEFECT_MODEL.preprocess.std] },
    output: { tensor: DEFECT_MODEL.output, topK: 2 },
  };
  const frames = await syntheticFrames();
  const note = `${SHARED_DATA} ABSENT: generated defect model and ${FRAME_COUNT} synthetic ${FRAME_WIDTH}×${FRAME_HEIGHT} parts instead of SqueezeNet and photos; figures are not comparable with SqueezeNet runs`;
  return finish('defect', note, entry, workDir, frames, []);
}

function finish(kind: BenchInputs['kind'], note: string, entry: ModelEntry, baseDir: string, frames: Buffer[], photos: string[]): BenchInputs {
  const model = ModelSchema.parse(entry);
  const modelPath = resolve(baseDir, model.path);
  const bytes = frames.map((f) => f.length);
  return {
    kind,
    note,
    entry,
    model,
    baseDir,
    modelPath,
    frames,
    meta: {
      model: { kind, name: model.name, path: modelPath, sha256: createHash('sha256').update(readFileSync(modelPath)).digest('hex'), threads: model.threads, preprocess: model.preprocess },
      image: {
        source: kind === 'squeezenet' ? photos : 'renderPart + encodePartJpeg (synthetic flanges)',
        count: frames.length,
        width: FRAME_WIDTH,
        height: FRAME_HEIGHT,
        quality: JPEG_QUALITY,
        meanBytes: Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length),
        minBytes: Math.min(...bytes),
        maxBytes: Math.max(...bytes),
      },
    },
  };
}
