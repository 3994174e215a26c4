import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ModelSchema } from '../../agent/config/schema.js';
import type { defectModelEntry } from '../../agent/demo/defect-model.js';
import { ProfileBuilder } from '../../agent/drift/profile-builder.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';

/**
 * A reference profile of the demo's defect model measured under half the light the synthetic
 * camera gives: an agent watching that camera against it raises a brightness drift alarm.
 * Written as JSON in `dir`; returns the file.
 */
export async function dimReferenceProfile(entry: ReturnType<typeof defectModelEntry>, dir: string, images: number): Promise<string> {
  const model = await ImageClassifierModel.load(ModelSchema.parse(entry), dir);
  const builder = new ProfileBuilder({ labels: entry.labels });
  try {
    for (let i = 0; i < images; i++) {
      const dim = await sharp(await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate: 0.2, seed: 21 }))).linear(0.5, 0).jpeg().toBuffer();
      const r = await model.classify(dim);
      builder.add({ image: r.inputs!.image, label: r.label, top1: r.score, entropy: r.inputs!.entropy });
    }
  } finally {
    await model.release();
  }
  const file = join(dir, 'profile.json');
  await writeFile(file, JSON.stringify(builder.build()));
  return file;
}
