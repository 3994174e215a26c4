import sharp from 'sharp';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';

export const FRAME_WIDTH = 1920;
export const FRAME_HEIGHT = 1080;
export const FRAME_COUNT = 16;
export const JPEG_QUALITY = 90;

/**
 * Distinct 1080p JPEGs cut from the sample photos. The photos are small, and an upscaled
 * photo is so smooth that its JPEG decodes faster than a camera frame would; a layer of
 * sensor-like noise brings the entropy (and so the decode work) to a camera's level.
 */
export async function photoFrames(photos: readonly string[]): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let i = 0; i < FRAME_COUNT; i++) {
    const zoom = 1 + 0.15 * (i % 4);
    const w = Math.round(FRAME_WIDTH * zoom);
    const h = Math.round(FRAME_HEIGHT * zoom);
    const left = Math.round((w - FRAME_WIDTH) * ((i * 7) % 5) / 4);
    const top = Math.round((h - FRAME_HEIGHT) * ((i * 3) % 5) / 4);
    let img = sharp(photos[i % photos.length]!)
      .resize(w, h, { fit: 'cover' })
      .extract({ left, top, width: FRAME_WIDTH, height: FRAME_HEIGHT })
      .modulate({ brightness: 0.85 + 0.1 * (i % 4), saturation: 0.8 + 0.15 * (i % 3), hue: ((i * 23) % 60) - 30 });
    if ((i >> 1) % 2 === 1) img = img.flop();
    if (i % 5 === 4) img = img.flip();
    const noise = { input: sensorNoise(FRAME_WIDTH, FRAME_HEIGHT, i + 1), raw: { width: FRAME_WIDTH, height: FRAME_HEIGHT, channels: 3 as const }, blend: 'soft-light' as const };
    frames.push(await img.composite([noise]).jpeg({ quality: JPEG_QUALITY }).toBuffer());
  }
  return frames;
}

/** The synthetic line camera's parts at 1080p, for machines without the sample photos. */
export async function syntheticFrames(): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let i = 0; i < FRAME_COUNT; i++) {
    const part = renderPart(i, { width: FRAME_WIDTH, height: FRAME_HEIGHT, defectRate: 0.25, seed: 1 });
    frames.push(await encodePartJpeg(part, JPEG_QUALITY));
  }
  return frames;
}

/** Grey (128) plus a triangular-distributed offset of up to ±24 per channel, deterministic per seed. */
function sensorNoise(width: number, height: number, seed: number): Buffer {
  const out = Buffer.alloc(width * height * 3);
  let s = (seed * 0x9e3779b1) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = 128 + Math.round(((s & 0xff) + ((s >>> 8) & 0xff) - 255) * 24 / 255);
  }
  return out;
}
