import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { jpegSize } from '../../agent/preprocess/jpeg-size.js';

const image = () => sharp({ create: { width: 37, height: 23, channels: 3, background: { r: 200, g: 10, b: 50 } } });

test('a JPEG\'s size comes from its frame header, baseline, progressive and with EXIF', async () => {
  assert.deepEqual(jpegSize(await image().jpeg().toBuffer()), { width: 37, height: 23 });
  assert.deepEqual(jpegSize(await image().jpeg({ progressive: true }).toBuffer()), { width: 37, height: 23 });
  // Stored size, as sharp's metadata reports it: the orientation tag is not applied.
  const rotated = await image().jpeg().withMetadata({ orientation: 6 }).toBuffer();
  assert.deepEqual(jpegSize(rotated), { width: 37, height: 23 });
  const meta = await sharp(rotated).metadata();
  assert.deepEqual({ width: meta.width, height: meta.height }, { width: 37, height: 23 });
});

test('anything else is left to sharp: other formats, cut-off headers, garbage', async () => {
  assert.equal(jpegSize(await image().png().toBuffer()), undefined);
  const jpeg = await image().jpeg().toBuffer();
  assert.equal(jpegSize(jpeg.subarray(0, 30)), undefined, 'header cut before the frame header');
  assert.equal(jpegSize(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)])), undefined);
  assert.equal(jpegSize(Buffer.alloc(0)), undefined);
  assert.equal(jpegSize(Buffer.from([0xff, 0xd8, 0x00, 0x00, 0x00])), undefined);
});
