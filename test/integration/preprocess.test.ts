import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { PreprocessSchema } from '../../agent/config/schema.js';
import type { PreprocessSpec } from '../../agent/config/schema.js';
import { AgentError } from '../../agent/errors.js';
import { toHalf } from '../../agent/preprocess/float16.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';

const W = 6;
const H = 4;
/** Every pixel different in every channel, so a wrong index or channel order shows. */
const gradient = (x: number, y: number): [number, number, number] => [10 + x * 40, 20 + y * 50, 250 - x * 7 - y * 3];

/** A lossless PNG drawn pixel by pixel. */
async function png(w: number, h: number, colour: (x: number, y: number) => number[], channels: 1 | 3 | 4 = 3): Promise<Buffer> {
  const data = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(colour(x, y).slice(0, channels), (y * w + x) * channels);
  return sharp(data, { raw: { width: w, height: h, channels } }).png().toBuffer();
}

function spec(over: Partial<Record<keyof PreprocessSpec, unknown>>): PreprocessSpec {
  return PreprocessSchema.parse({ width: W, height: H, ...over });
}

const mean = [0.485, 0.456, 0.406];
const std = [0.229, 0.224, 0.225];
const norm = (v: number, c: number, scale = 1 / 255) => (v * scale - mean[c]!) / std[c]!;

test('NCHW, RGB, float32: planes in RGB order, normalised per channel', async () => {
  const pre = new ImagePreprocessor(spec({ layout: 'NCHW', channels: 'RGB', mean, std }));
  const { tensor, width, height } = await pre.toTensor(await png(W, H, gradient));
  assert.deepEqual(tensor.dims, [1, 3, H, W]);
  assert.equal(tensor.type, 'float32');
  assert.equal(width, W);
  assert.equal(height, H);
  const data = tensor.data as Float32Array;
  for (const [x, y] of [[0, 0], [5, 0], [2, 3], [5, 3]] as const) {
    const rgb = gradient(x, y);
    for (let c = 0; c < 3; c++) {
      assert.equal(data[c * W * H + y * W + x], Math.fround(norm(rgb[c]!, c)), `x=${x} y=${y} c=${c}`);
    }
  }
});

test('NHWC, BGR, float32: interleaved, blue first, mean/std in BGR order', async () => {
  const pre = new ImagePreprocessor(spec({ layout: 'NHWC', channels: 'BGR', mean, std }));
  const { tensor } = await pre.toTensor(await png(W, H, gradient));
  assert.deepEqual(tensor.dims, [1, H, W, 3]);
  const data = tensor.data as Float32Array;
  for (const [x, y] of [[0, 0], [3, 1], [5, 3]] as const) {
    const [r, g, b] = gradient(x, y);
    const at = (y * W + x) * 3;
    assert.deepEqual([...data.subarray(at, at + 3)], [norm(b, 0), norm(g, 1), norm(r, 2)].map(Math.fround), `x=${x} y=${y}`);
  }
});

test('NCHW, BGR, float32 with a single mean/std and scale 1 (Caffe style)', async () => {
  const pre = new ImagePreprocessor(spec({ channels: 'BGR', scale: 1, mean: [128], std: [2] }));
  const data = (await pre.toTensor(await png(W, H, gradient))).tensor.data as Float32Array;
  const [r, g, b] = gradient(4, 2);
  const i = 2 * W + 4;
  assert.deepEqual([data[i], data[W * H + i], data[2 * W * H + i]], [(b - 128) / 2, (g - 128) / 2, (r - 128) / 2]);
});

test('GRAY: one channel; a grey image keeps its values', async () => {
  const grey = (x: number, y: number) => [x * 40 + y, x * 40 + y, x * 40 + y];
  const pre = new ImagePreprocessor(spec({ channels: 'GRAY', scale: 1 }));
  const { tensor } = await pre.toTensor(await png(W, H, grey));
  assert.deepEqual(tensor.dims, [1, 1, H, W]);
  const data = tensor.data as Float32Array;
  assert.equal(data[0], 0);
  assert.equal(data[3 * W + 5], 203);
  // NHWC with one channel is the same memory order.
  const nhwc = await new ImagePreprocessor(spec({ channels: 'GRAY', scale: 1, layout: 'NHWC' })).toTensor(await png(W, H, grey));
  assert.deepEqual(nhwc.tensor.dims, [1, H, W, 1]);
  assert.deepEqual([...(nhwc.tensor.data as Float32Array)], [...data]);
});

test('GRAY from a colour image, RGB from a one-channel image, alpha dropped', async () => {
  const gray = await new ImagePreprocessor(spec({ channels: 'GRAY', dtype: 'uint8' })).toTensor(await png(W, H, gradient));
  assert.deepEqual(gray.tensor.dims, [1, 1, H, W]);
  const oneChannel = await png(W, H, (x) => [x * 30], 1);
  const rgb = await new ImagePreprocessor(spec({ layout: 'NHWC', dtype: 'uint8' })).toTensor(oneChannel);
  assert.deepEqual([...(rgb.tensor.data as Uint8Array).subarray(3 * 3, 3 * 4)], [90, 90, 90]);
  const rgba = await png(W, H, (x, y) => [...gradient(x, y), 128], 4);
  const noAlpha = await new ImagePreprocessor(spec({ layout: 'NHWC', dtype: 'uint8' })).toTensor(rgba);
  assert.equal((noAlpha.tensor.data as Uint8Array).length, W * H * 3);
  assert.deepEqual([...(noAlpha.tensor.data as Uint8Array).subarray(0, 3)], gradient(0, 0));
});

test('float16: the half bits of the float32 values', async () => {
  const pre = new ImagePreprocessor(spec({ dtype: 'float16', mean, std }));
  const { tensor } = await pre.toTensor(await png(W, H, gradient));
  assert.equal(tensor.type, 'float16');
  const data = tensor.data as Uint16Array;
  assert.ok(data instanceof Uint16Array);
  const rgb = gradient(1, 2);
  for (let c = 0; c < 3; c++) assert.equal(data[c * W * H + 2 * W + 1], toHalf(norm(rgb[c]!, c)));
});

test('uint8: raw pixels in the asked order and layout, scale/mean/std ignored', async () => {
  const pre = new ImagePreprocessor(spec({ dtype: 'uint8', channels: 'BGR', layout: 'NCHW', mean: [100], std: [3] }));
  const { tensor } = await pre.toTensor(await png(W, H, gradient));
  assert.equal(tensor.type, 'uint8');
  const data = tensor.data as Uint8Array;
  const [r, g, b] = gradient(5, 1);
  const i = W + 5;
  assert.deepEqual([data[i], data[W * H + i], data[2 * W * H + i]], [b, g, r]);
});

test('fit contain pads with black; fill stretches; cover crops', async () => {
  const red = await png(8, 4, () => [255, 0, 0]);
  const s = { width: 8, height: 8, layout: 'NHWC', dtype: 'uint8' } as const;
  const contain = (await new ImagePreprocessor(spec({ ...s, fit: 'contain' })).toTensor(red)).tensor.data as Uint8Array;
  const px = (d: Uint8Array, x: number, y: number) => [...d.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)];
  for (const y of [0, 1, 6, 7]) assert.deepEqual(px(contain, 3, y), [0, 0, 0], `row ${y} is padding`);
  for (const y of [2, 3, 4, 5]) assert.deepEqual(px(contain, 3, y), [255, 0, 0], `row ${y} is the image`);
  // Black padding goes through normalisation like any pixel.
  const normed = await new ImagePreprocessor(spec({ width: 8, height: 8, fit: 'contain', mean, std })).toTensor(red);
  assert.equal((normed.tensor.data as Float32Array)[0], Math.fround(norm(0, 0)));
  const fill = (await new ImagePreprocessor(spec({ ...s, fit: 'fill' })).toTensor(red)).tensor.data as Uint8Array;
  assert.deepEqual(px(fill, 3, 0), [255, 0, 0]);
  // Left half red, right half blue, 16×8 into 4×8: cover takes the middle, 4 columns either side of the seam.
  const halves = await png(16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]));
  const cover = (await new ImagePreprocessor(spec({ ...s, width: 8, fit: 'cover' })).toTensor(halves)).tensor.data as Uint8Array;
  assert.deepEqual(px(cover, 0, 4), [255, 0, 0]);
  assert.deepEqual(px(cover, 7, 4), [0, 0, 255]);
});

test('the original size is reported, not the model size', async () => {
  const pre = new ImagePreprocessor(spec({ width: 4, height: 4 }));
  const out = await pre.toTensor(await png(37, 21, gradient));
  assert.deepEqual([out.width, out.height], [37, 21]);
  assert.deepEqual(out.tensor.dims, [1, 3, 4, 4]);
});

async function refused(pre: ImagePreprocessor, image: Buffer, what: string): Promise<AgentError> {
  const err = await pre.toTensor(image).then(
    () => assert.fail(`${what} was accepted`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError, `${what}: ${String(err)}`);
  assert.equal(err.code, 'E_IMAGE_DECODE', what);
  assert.equal(err.retryable, false);
  assert.match(err.message, /^image could not be decoded: ./, what);
  return err;
}

test('truncated JPEG, random bytes, empty and text buffers are refused with E_IMAGE_DECODE', async () => {
  const pre = new ImagePreprocessor(spec({ width: 32, height: 32 }));
  const noise = Buffer.alloc(256 * 256 * 3);
  let seed = 7;
  for (let i = 0; i < noise.length; i++) noise[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const jpeg = await sharp(noise, { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  await pre.toTensor(jpeg); // the whole file is fine
  const truncated = await refused(pre, jpeg.subarray(0, jpeg.length >> 1), 'half a JPEG');
  assert.match(truncated.message, /premature end|truncated/i);
  await refused(pre, jpeg.subarray(0, jpeg.length - 2), 'a JPEG without its end marker');
  const random = Buffer.alloc(4096);
  for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  await refused(pre, random, 'random bytes');
  await refused(pre, Buffer.alloc(0), 'an empty buffer');
  await refused(pre, Buffer.from('NG part 4711: scratch on the left edge\n'), 'a text buffer');
});

test('an image over the pixel limit is refused before it is decoded', async () => {
  const pre = new ImagePreprocessor(spec({}), { maxInputPixels: 1000 });
  const err = await refused(pre, await png(40, 30, gradient), 'a 1200-pixel image');
  assert.match(err.message, /pixel limit/);
});

test('mean/std that fit neither one value nor one per channel are a config error', () => {
  assert.throws(
    () => new ImagePreprocessor(spec({ mean: [0.5, 0.5] })),
    (e: unknown) => e instanceof AgentError && e.code === 'E_PREPROCESS_CONFIG' && /mean has 2 values/.test(e.message),
  );
  assert.throws(() => new ImagePreprocessor(spec({ channels: 'GRAY', std: [1, 2, 3] })), /std has 3 values/);
});
