import sharp from 'sharp';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { encodePartJpeg, renderPart, type PartOptions } from '../../agent/sources/camera/synthetic-part.js';

/** Small enough to be quick, large enough that a cut lands deep in the scan data. */
const PART: PartOptions = { width: 320, height: 240, defectRate: 0.3, seed: 11 };

/** Part `i` as the line camera would send it. */
export function partJpeg(i: number): Promise<Buffer> {
  return encodePartJpeg(renderPart(i, PART));
}

export function partPng(i: number): Promise<Buffer> {
  const part = renderPart(i, PART);
  return sharp(part.rgb, { raw: { width: part.width, height: part.height, channels: 3 } }).png().toBuffer();
}

/** Every header intact up to and including the start-of-scan segment, the entropy-coded body replaced by noise. */
export async function corruptJpeg(i: number): Promise<Buffer> {
  const good = await partJpeg(i);
  const sos = good.indexOf(Buffer.from([0xff, 0xda]));
  if (sos < 0) throw new Error('no SOS marker in the JPEG');
  const bodyStart = sos + 2 + good.readUInt16BE(sos + 2);
  const noise = mulberry32(i);
  const out = Buffer.from(good);
  for (let k = bodyStart; k < out.length - 2; k++) out[k] = Math.floor(noise() * 256);
  return out;
}

/** The first half of a valid JPEG: what a copy interrupted by a dropped link leaves behind. */
export async function truncatedJpeg(i: number): Promise<Buffer> {
  const good = await partJpeg(i);
  return good.subarray(0, good.length >> 1);
}
