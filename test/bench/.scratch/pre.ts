import sharp from 'sharp';
import { ImagePreprocessor } from '../../../agent/preprocess/image.js';
import { ModelSchema } from '../../../agent/config/schema.js';
const P = '/work/shared/data/images/photos/';
const cfg = ModelSchema.parse({ name: 'sq', path: 'x', preprocess: { width: 224, height: 224, channels: 'BGR', layout: 'NCHW', scale: 1, mean: [0], std: [1], dtype: 'float16' } });
const pre = new ImagePreprocessor(cfg.preprocess);
const jpg = await sharp(P + 'winml_kitten.png').resize(1920, 1080, { fit: 'cover' }).sharpen({sigma: 2}).jpeg({ quality: 90 }).toBuffer();
console.log(jpg.length);
for (let r = 0; r < 3; r++) {
  let t0 = performance.now();
  for (let i = 0; i < 30; i++) await sharp(jpg).resize(224, 224, { fit: 'fill' }).raw().toBuffer();
  console.log('bare', ((performance.now() - t0) / 30).toFixed(2));
  t0 = performance.now();
  for (let i = 0; i < 30; i++) await pre.toTensor(jpg);
  console.log('agent', ((performance.now() - t0) / 30).toFixed(2));
  t0 = performance.now();
  for (let i = 0; i < 30; i++) await sharp(jpg, {failOn: 'warning'}).resize(224, 224, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
  console.log('bare+opts', ((performance.now() - t0) / 30).toFixed(2));
  t0 = performance.now();
  for (let i = 0; i < 30; i++) { const s = sharp(jpg); await s.metadata(); await s.resize(224, 224, { fit: 'fill' }).raw().toBuffer(); }
  console.log('bare+meta', ((performance.now() - t0) / 30).toFixed(2));
}
