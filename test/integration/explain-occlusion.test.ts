import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { ModelSchema } from '../../agent/config/schema.js';
import { explainImage } from '../../agent/explain/image-explainer.js';
import { cellBounds } from '../../agent/explain/occlusion.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { occlusionHeat, OcclusionMap } from '../../protocol/explanations.js';
import { defectModelConfig } from '../helpers/defect-model-config.js';
import { argmax, rectTouches } from '../helpers/explain-defects.js';

const DATA = join(process.cwd(), '..', 'shared', 'data');
const now = <T>(work: () => Promise<T>) => work();

test('on the generated defect model, the hottest occlusion cell lies on the drawn defect in at least 80% of defect images', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'explain-occ-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const model = await ImageClassifierModel.load(await defectModelConfig(dir), dir);
  t.after(() => model.release());
  const settings = { grid: 6, maxPatch: 4, fill: 'mean' as const, overlay: false, batchSize: 8 };
  let images = 0;
  let hits = 0;
  for (let i = 0; images < 100; i++) {
    const part = renderPart(i, { width: 640, height: 480, defectRate: 1, seed: 2026 });
    const map = OcclusionMap.parse(await explainImage(model, await encodePartJpeg(part), settings, now));
    // Only images the model calls defective explain a defect.
    if (map.label !== 'defect') continue;
    images++;
    const heat = occlusionHeat(map);
    const hottest = argmax(heat);
    const b = cellBounds(Math.floor(hottest / map.cols), hottest % map.cols, map.rows, map.cols, 480, 640);
    if (rectTouches(part.defects, b.x0, b.y0, b.x1, b.y1)) hits++;
    assert.equal(map.runs >= 37, true, 'one run per cell and one for the whole image at least');
    assert.equal(map.batched, false, 'the defect model has a fixed batch of 1: perturbed inputs run one by one');
  }
  const share = hits / images;
  t.diagnostic(`hottest cell on the defect in ${hits} of ${images} defect images (${(share * 100).toFixed(1)}%)`);
  assert.ok(share >= 0.8, `only ${hits} of ${images}`);
});

/**
 * The criterion for "most of the attribution on the fish": the fish is the photo's orange
 * pixels (red well above blue); of all positive score drops, the share falling on fish
 * pixels (each cell's drop spread evenly over its pixels) must exceed one half, and the
 * hottest cell must hold fish. The mask is strict (fins and shadowed scales fall outside it).
 */
test('SqueezeNet on the goldfish photo puts most of the occlusion attribution on the fish', { timeout: 240_000 }, async (t) => {
  const modelPath = join(DATA, 'models', 'winml_SqueezeNet_fp16.onnx');
  const photo = join(DATA, 'images', 'photos', 'ortex_goldfish.jpg');
  if (!existsSync(modelPath) || !existsSync(photo)) return t.skip(`skipped: ${DATA} is absent (the real third-party models and images)`);
  const config = ModelSchema.parse({
    name: 'squeezenet',
    path: modelPath,
    labelsFile: join(DATA, 'models', 'imagenet_labels_winml.txt'),
    preprocess: { width: 224, height: 224, channels: 'BGR', scale: 1, dtype: 'float16' },
  });
  const model = await ImageClassifierModel.load(config, '/');
  t.after(() => model.release());
  const image = readFileSync(photo);
  const map = OcclusionMap.parse(await explainImage(model, image, { grid: 7, maxPatch: 3, fill: 'mean', overlay: true, batchSize: 8 }, now));
  assert.match(map.label, /goldfish/i);

  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const fish = (x: number, y: number) => {
    const p = (y * info.width + x) * 3;
    return data[p]! > 140 && data[p]! - data[p + 2]! > 70;
  };
  const heat = occlusionHeat(map);
  let onFish = 0;
  let total = 0;
  let fishPixels = 0;
  const fishShare: number[] = [];
  for (let cell = 0; cell < heat.length; cell++) {
    const b = cellBounds(Math.floor(cell / map.cols), cell % map.cols, map.rows, map.cols, info.height, info.width);
    let n = 0;
    let f = 0;
    for (let y = b.y0; y < b.y1; y++) for (let x = b.x0; x < b.x1; x++, n++) if (fish(x, y)) f++;
    fishPixels += f;
    fishShare.push(f / n);
    const drop = Math.max(0, heat[cell]!);
    total += drop;
    onFish += drop * (f / n);
  }
  const hottest = argmax(heat);
  const share = onFish / total;
  t.diagnostic(`fish covers ${((fishPixels / (info.width * info.height)) * 100).toFixed(1)}% of the photo; ${(share * 100).toFixed(1)}% of the positive attribution falls on it; hottest cell ${hottest} is ${(fishShare[hottest]! * 100).toFixed(0)}% fish`);
  assert.ok(share > 0.5, `only ${(share * 100).toFixed(1)}% of the attribution on the fish`);
  assert.ok(fishShare[hottest]! > 0, 'the hottest cell holds fish');
  const overlay = Buffer.from(map.overlay ?? '', 'base64');
  const meta = await sharp(overlay).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(Math.max(meta.width ?? 0, meta.height ?? 0) === 160, 'a small overlay');
});
