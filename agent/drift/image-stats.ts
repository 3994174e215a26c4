import type { ImageStatName } from '../../protocol/reference-profile.js';

/** The per-image statistics drift is judged on, all in [0, 1] except sharpness. */
export type ImageStats = Record<ImageStatName, number>;

/**
 * Every fourth pixel of every fourth row: the statistics move the same, at a sixteenth of
 * the cost (drift must stay under 1% of the inference it watches).
 */
const STRIDE = 4;

/** A pixel at or beyond these 8-bit values counts as saturated (clipped by the sensor). */
const LOW = 2;
const HIGH = 253;

/**
 * Statistics of one image from its 8-bit interleaved pixels (grey or RGB) at the model's
 * input size: mean brightness, contrast (standard deviation of brightness), sharpness
 * (variance of the 4-neighbour Laplacian of brightness), per-channel means and the share
 * of saturated pixels. Pack time and the live agent both call this, on pixels from the
 * same preprocessing, so a reference and a live window are measured alike.
 */
export function imageStats(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): ImageStats {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let r = 0;
  let g = 0;
  let b = 0;
  let saturated = 0;
  let lap = 0;
  let lapSq = 0;
  let lapN = 0;
  const row = width * channels;
  for (let y = 0; y < height; y += STRIDE) {
    const inner = y > 0 && y < height - 1;
    for (let x = 0; x < width; x += STRIDE) {
      const i = y * row + x * channels;
      const v = luma(pixels, i, channels);
      n++;
      sum += v;
      sumSq += v * v;
      if (channels === 3) {
        r += pixels[i]!;
        g += pixels[i + 1]!;
        b += pixels[i + 2]!;
      }
      if (v <= LOW || v >= HIGH) saturated++;
      // The Laplacian on every other sampled pixel (a checkerboard) is plenty for its variance.
      if (inner && x > 0 && x < width - 1 && ((x + y) / STRIDE) % 2 === 0) {
        const l = luma(pixels, i - channels, channels) + luma(pixels, i + channels, channels) + luma(pixels, i - row, channels) + luma(pixels, i + row, channels) - 4 * v;
        lap += l;
        lapSq += l * l;
        lapN++;
      }
    }
  }
  const mean = sum / n;
  const lapMean = lapN > 0 ? lap / lapN : 0;
  const grey = mean / 255;
  return {
    brightness: grey,
    contrast: Math.sqrt(Math.max(0, sumSq / n - mean * mean)) / 255,
    sharpness: lapN > 0 ? Math.max(0, lapSq / lapN - lapMean * lapMean) / (255 * 255) : 0,
    meanR: channels === 3 ? r / n / 255 : grey,
    meanG: channels === 3 ? g / n / 255 : grey,
    meanB: channels === 3 ? b / n / 255 : grey,
    saturated: saturated / n,
  };
}

/** ITU-R BT.601 luma in integer arithmetic (sharp's RGB order). */
function luma(p: Uint8Array, i: number, channels: 1 | 3): number {
  return channels === 1 ? p[i]! : (p[i]! * 77 + p[i + 1]! * 150 + p[i + 2]! * 29) >> 8;
}
