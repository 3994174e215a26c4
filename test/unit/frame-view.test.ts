import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { PreprocessSpec } from '../../agent/config/schema.js';
import { withView, viewOf } from '../../agent/preprocess/frame-view.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';

/** 40 × 20: left half red, right half blue; the top quarter also has full green. */
async function quadrants(): Promise<Buffer> {
  const raw = Buffer.alloc(40 * 20 * 3);
  for (let y = 0; y < 20; y++) {
    for (let x = 0; x < 40; x++) {
      const o = (y * 40 + x) * 3;
      if (x < 20) raw[o] = 255;
      else raw[o + 2] = 255;
      if (y < 5) raw[o + 1] = 255;
    }
  }
  return sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).png().toBuffer();
}

const spec = { width: 4, height: 4, fit: 'fill', layout: 'NHWC', channels: 'RGB', scale: 1, mean: [0], std: [1], dtype: 'uint8' } as PreprocessSpec;

/** Each channel read as on (1) or off (0): resampling blurs edges by a few levels. */
function pixel(pixels: Uint8Array, x: number, y: number): number[] {
  const o = (y * 4 + x) * 3;
  return [pixels[o]!, pixels[o + 1]!, pixels[o + 2]!].map((v) => (v > 127 ? 255 : 0));
}

test('a frame without a view is decoded whole', async () => {
  const pre = await new ImagePreprocessor(spec).toTensor(await quadrants());
  assert.deepEqual(pixel(pre.pixels, 0, 3), [255, 0, 0]);
  assert.deepEqual(pixel(pre.pixels, 3, 3), [0, 0, 255]);
});

test('the region of interest is cut from the camera picture before resizing', async () => {
  const data = withView(await quadrants(), { crop: { left: 20, top: 0, width: 20, height: 20 } });
  const pre = await new ImagePreprocessor(spec).toTensor(data);
  for (const [x, y] of [[0, 3], [3, 3]] as const) assert.deepEqual(pixel(pre.pixels, x, y), [0, 0, 255]);
  assert.deepEqual(pixel(pre.pixels, 0, 0), [0, 255, 255]);
  assert.equal(pre.width, 40, 'width reports the camera picture, not the crop');
});

test('rotation turns the cropped picture clockwise', async () => {
  // Crop the left half (green band on top), turn 90° clockwise: the green band goes to the right.
  const data = withView(await quadrants(), { crop: { left: 0, top: 0, width: 20, height: 20 }, rotate: 90 });
  const pre = await new ImagePreprocessor(spec).toTensor(data);
  assert.deepEqual(pixel(pre.pixels, 3, 0), [255, 255, 0]);
  assert.deepEqual(pixel(pre.pixels, 3, 3), [255, 255, 0]);
  assert.deepEqual(pixel(pre.pixels, 0, 0), [255, 0, 0]);
});

test('a region outside the picture refuses the frame with a reason', async () => {
  const data = withView(await quadrants(), { crop: { left: 30, top: 0, width: 20, height: 20 } });
  await assert.rejects(new ImagePreprocessor(spec).toTensor(data), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'E_IMAGE_DECODE');
    assert.match(err.message, /region of interest 20x20 at 30,0 lies outside the 40x20 image/);
    return true;
  });
});

test('a view that changes nothing is not kept', async () => {
  const data = withView(Buffer.from([1, 2, 3]), { rotate: 0 });
  assert.equal(viewOf(data), undefined);
});

test('every rotation of a non-square crop equals cropping, then turning, in two steps', async () => {
  // A picture with no symmetry: a smooth ramp across, a different one down.
  const w = 64;
  const h = 40;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([x * 4, y * 6, (x * y) % 256], (y * w + x) * 3);
  const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  const crop = { left: 6, top: 4, width: 50, height: 30 };
  const spec16 = { ...spec, width: 16, height: 16 };
  for (const rotate of [0, 90, 180, 270] as const) {
    const got = await new ImagePreprocessor(spec16).toTensor(withView(Buffer.from(png), { crop, rotate }));
    const cropped = await sharp(png).extract(crop).png().toBuffer();
    const want = await sharp(cropped).rotate(rotate).resize(16, 16, { fit: 'fill' }).raw().toBuffer();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got.pixels[i]!));
    assert.ok(worst <= 2, `rotate ${rotate}: differs by up to ${worst} levels`);
  }
});
