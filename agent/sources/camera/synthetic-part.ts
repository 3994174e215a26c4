import sharp from 'sharp';
import { mixSeed, mulberry32, type Random } from './prng.js';

/*
 * What the line camera over the conveyor would see: a turned steel flange (a disc with a
 * keyed bore) on a dark rubber belt, lit from one side, with lathe marks and sensor noise.
 * Some parts carry a scratch or a spot on the machined face. Everything comes from the
 * seed and the part number, so part 1234 looks the same in every run, test and demo.
 */

export type DefectKind = 'scratch' | 'spot';

/** Where a defect was drawn, in image pixels; size is a scratch's length or a spot's diameter. */
export interface Defect {
  kind: DefectKind;
  x: number;
  y: number;
  size: number;
  /** A scratch's direction in radians (x towards y), and its full width in pixels. */
  angle?: number;
  width?: number;
}

export interface PartOptions {
  width: number;
  height: number;
  /** Share of parts drawn with a defect, 0–1. */
  defectRate: number;
  seed: number;
}

export interface RenderedPart {
  /** Raw RGB, width × height × 3 bytes, row by row. */
  rgb: Buffer;
  width: number;
  height: number;
  defects: Defect[];
}

interface Flange {
  cx: number;
  cy: number;
  outer: number;
  bore: number;
  /** Direction of the keyway, as a unit vector. */
  keyX: number;
  keyY: number;
}

const round1 = (v: number) => Math.round(v * 10) / 10;
const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** How much of pixel (x, y) is steel rather than belt or bore, 0–1, with anti-aliased edges. */
function steelCover(f: Flange, x: number, y: number): number {
  const dx = x - f.cx;
  const dy = y - f.cy;
  const r2 = dx * dx + dy * dy;
  if (r2 >= (f.outer + 0.5) * (f.outer + 0.5)) return 0;
  const r = Math.sqrt(r2);
  const outside = clamp01(r - f.outer + 0.5);
  // The keyway is a slot cut from the bore outwards.
  const u = dx * f.keyX + dy * f.keyY;
  const v = Math.abs(-dx * f.keyY + dy * f.keyX);
  const slot = u > 0 ? clamp01(Math.min(f.bore * 1.3 - u, f.bore * 0.22 - v) + 0.5) : 0;
  const hole = Math.max(clamp01(f.bore - r + 0.5), slot);
  return (1 - outside) * (1 - hole);
}

function placeOnFace(f: Flange, rnd: Random): { x: number; y: number } {
  const band = f.outer - f.bore;
  const r = f.bore + band * (0.3 + 0.4 * rnd());
  const a = rnd() * 2 * Math.PI;
  return { x: f.cx + r * Math.cos(a), y: f.cy + r * Math.sin(a) };
}

/** A scratch: a thin groove (dark) or a burnished line (bright), fading at its ends. */
function drawScratch(lum: Float32Array, cover: Float32Array, w: number, h: number, f: Flange, rnd: Random, scale: number): Defect {
  const { x, y } = placeOnFace(f, rnd);
  const length = (50 + 100 * rnd()) * scale;
  const angle = rnd() * Math.PI;
  const half = (0.9 + 0.7 * rnd()) * scale;
  const bright = rnd() < 0.3;
  const depth = bright ? 55 + 35 * rnd() : 0.4 + 0.25 * rnd();
  const ux = Math.cos(angle);
  const uy = Math.sin(angle);
  const x0 = Math.max(0, Math.floor(x - (length / 2) * Math.abs(ux) - half - 1));
  const x1 = Math.min(w - 1, Math.ceil(x + (length / 2) * Math.abs(ux) + half + 1));
  const y0 = Math.max(0, Math.floor(y - (length / 2) * Math.abs(uy) - half - 1));
  const y1 = Math.min(h - 1, Math.ceil(y + (length / 2) * Math.abs(uy) + half + 1));
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      const i = py * w + px;
      const c = cover[i]!;
      if (c === 0) continue;
      const along = (px - x) * ux + (py - y) * uy;
      const across = Math.abs(-(px - x) * uy + (py - y) * ux);
      const t = Math.abs(along) / (length / 2);
      if (t >= 1) continue;
      const a = c * clamp01(half + 0.5 - across) * Math.min(1, 3 * (1 - t));
      if (a === 0) continue;
      lum[i] = bright ? lum[i]! + depth * a : lum[i]! * (1 - depth * a);
    }
  }
  return { kind: 'scratch', x: round1(x), y: round1(y), size: round1(length), angle: Math.round(angle * 1000) / 1000, width: round1(2 * half) };
}

/** A spot: a pit or a stain, dark or bright, with a slightly ragged outline. */
function drawSpot(lum: Float32Array, cover: Float32Array, w: number, h: number, f: Flange, rnd: Random, scale: number): Defect {
  const { x, y } = placeOnFace(f, rnd);
  const radius = (5 + 7 * rnd()) * scale;
  const bright = rnd() < 0.3;
  const depth = bright ? 40 + 30 * rnd() : 0.45 + 0.25 * rnd();
  const lobes = 2 + Math.floor(rnd() * 3);
  const phase = rnd() * 2 * Math.PI;
  const reach = radius * 1.25 + 2;
  for (let py = Math.max(0, Math.floor(y - reach)); py <= Math.min(h - 1, Math.ceil(y + reach)); py++) {
    for (let px = Math.max(0, Math.floor(x - reach)); px <= Math.min(w - 1, Math.ceil(x + reach)); px++) {
      const i = py * w + px;
      const c = cover[i]!;
      if (c === 0) continue;
      const dx = px - x;
      const dy = py - y;
      const edge = radius * (1 + 0.15 * Math.sin(lobes * Math.atan2(dy, dx) + phase));
      const a = c * clamp01((edge - Math.sqrt(dx * dx + dy * dy)) / 1.5 + 0.5);
      if (a === 0) continue;
      lum[i] = bright ? lum[i]! + depth * a : lum[i]! * (1 - depth * a);
    }
  }
  return { kind: 'spot', x: round1(x), y: round1(y), size: round1(2 * radius) };
}

/** Renders part number `index`; the same index and options always give the same bytes. */
export function renderPart(index: number, opts: PartOptions): RenderedPart {
  const { width: w, height: h } = opts;
  const rnd = mulberry32(mixSeed(opts.seed, index));
  const defective = rnd() < opts.defectRate;
  const scale = Math.min(w, h) / 480;

  // The feeder never places two parts identically.
  const outer = 200 * scale * (0.985 + 0.03 * rnd());
  const key = rnd() * 2 * Math.PI;
  const f: Flange = {
    cx: w / 2 + (rnd() - 0.5) * 0.08 * w,
    cy: h / 2 + (rnd() - 0.5) * 0.08 * h,
    outer,
    bore: outer * (0.29 + 0.02 * rnd()),
    keyX: Math.cos(key),
    keyY: Math.sin(key),
  };
  const steel = 150 + 24 * (rnd() - 0.5);
  const belt = 46 + 8 * (rnd() - 0.5);
  const gx = 0.16 * (rnd() - 0.5);
  const gy = 0.16 * (rnd() - 0.5);
  // Turned faces throw a bow-tie highlight along the light direction.
  const light = 0.6 + 0.3 * (rnd() - 0.5);
  const c2 = Math.cos(2 * light);
  const s2 = Math.sin(2 * light);
  const shadowX = f.cx + 9 * scale;
  const shadowY = f.cy + 12 * scale;
  const shadowSoft = 14 * scale;
  const shadowEdge2 = (f.outer + shadowSoft / 2) ** 2;

  // Lathe marks: fine concentric rings of slightly different sheen.
  const rings = new Float32Array(Math.ceil(f.outer) + 2);
  let mark = 0;
  for (let i = 0; i < rings.length; i++) {
    mark = 0.55 * mark + 3.5 * (rnd() - 0.5);
    rings[i] = mark;
  }
  // Rubber belt texture runs along the belt (rows).
  const weave = new Float32Array(h);
  for (let y = 0; y < h; y++) weave[y] = 3 * (rnd() - 0.5);

  const n = w * h;
  const lum = new Float32Array(n);
  const cover = new Float32Array(n);
  const chamfer = 6 * scale;
  for (let y = 0; y < h; y++) {
    const dy = y - f.cy;
    const sy = y - shadowY;
    const beltRow = belt * (1 + 0.1 * (y / h - 0.5)) + weave[y]!;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const sx = x - shadowX;
      const sd2 = sx * sx + sy * sy;
      const lit = sd2 > shadowEdge2 ? 1 : clamp01((Math.sqrt(sd2) - f.outer) / shadowSoft + 0.5);
      const back = beltRow * (0.55 + 0.45 * lit);
      const c = steelCover(f, x, y);
      cover[i] = c;
      if (c === 0) {
        lum[i] = back;
        continue;
      }
      const dx = x - f.cx;
      const r2 = dx * dx + dy * dy;
      const r = Math.sqrt(r2);
      const bow = r2 > 0 ? ((dx * dx - dy * dy) * c2 + 2 * dx * dy * s2) / r2 : 0;
      let face = steel * (1 + (gx * dx + gy * dy) / f.outer) * (1 + 0.15 * bow) + rings[Math.floor(r)]!;
      // The rim chamfer catches the light; the bore chamfer falls into shade.
      if (r > f.outer - chamfer) face *= 1.2;
      else if (r < f.bore + chamfer) face *= 0.82;
      lum[i] = back + (face - back) * c;
    }
  }

  const defects: Defect[] = [];
  if (defective) {
    const pick = rnd();
    if (pick < 0.6) defects.push(drawScratch(lum, cover, w, h, f, rnd, scale));
    if (pick >= 0.45) defects.push(drawSpot(lum, cover, w, h, f, rnd, scale));
  }

  // Sensor noise: one xorshift word per pixel gives three channel offsets.
  const rgb = Buffer.alloc(n * 3);
  const out = new Uint8ClampedArray(rgb.buffer, rgb.byteOffset, rgb.length);
  let s = (mixSeed(opts.seed, index, 0x5eed) | 1) >>> 0;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const v = lum[i]!;
    const c = cover[i]!;
    // Rubber reads slightly green, steel slightly blue.
    out[i * 3] = v * (0.97 - 0.01 * c) + ((s & 0xff) - 127.5) / 32;
    out[i * 3 + 1] = v + (((s >>> 8) & 0xff) - 127.5) / 32;
    out[i * 3 + 2] = v * (0.96 + 0.08 * c) + (((s >>> 16) & 0xff) - 127.5) / 32;
  }
  return { rgb, width: w, height: h, defects };
}

/** The part as the camera would send it: a JPEG. */
export function encodePartJpeg(part: RenderedPart, quality = 85): Promise<Buffer> {
  return sharp(part.rgb, { raw: { width: part.width, height: part.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}
