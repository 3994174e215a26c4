import { Tensor } from 'onnxruntime-node';
import { float32ToHalfArray, halfToFloat32Array } from '../preprocess/float16.js';

/** An image model's input: [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC) in float32, float16 or uint8. */
export interface ImageInput {
  readonly tensor: Tensor;
  readonly layout: 'NCHW' | 'NHWC';
}

/** Scores several inputs of the model's shape; one score vector (class order) per input. */
export type BatchScorer = (inputs: readonly Tensor[]) => Promise<Float32Array[]>;

/** Runs `work` when the live pipeline can spare the CPU; resolves with its result. */
export type Turn = <T>(work: () => Promise<T>) => Promise<T>;

export interface OcclusionOptions {
  rows: number;
  cols: number;
  /**
   * Side of the covered patch in cells (1: one cell at a time). A patch of k × k cells is
   * placed at every cell position where it fits, so it also hides what straddles cell borders.
   */
  patch: number;
  /**
   * When no patch of the current size moves the score by 1% of it (the evidence is spread
   * wider than a patch, or the score is saturated), the map is made again with patches one
   * cell wider, up to this size.
   */
  maxPatch: number;
  /** What covers a cell: the image's mean per channel, or the image blurred over about a cell. */
  fill: 'mean' | 'blur';
  /** Perturbed inputs per scoring call (and per turn). */
  batchSize: number;
  classIndex: number;
  /** The class's score on the whole image. */
  baseScore: number;
  score: BatchScorer;
  turn: Turn;
  signal?: AbortSignal;
}

/** Per cell, row by row: base score minus the score with that cell covered. */
export interface OcclusionResult {
  drops: Float32Array;
  /** Perturbed inputs scored. */
  runs: number;
}

interface Geometry {
  c: number;
  h: number;
  w: number;
  /** Offset of pixel (y, x) channel k: y * rowStride + x * pixelStride + k * channelStride. */
  rowStride: number;
  pixelStride: number;
  channelStride: number;
}

function geometry(input: ImageInput): Geometry {
  const d = input.tensor.dims;
  if (d.length !== 4 || d[0] !== 1) throw new Error(`an image input is [1, …] of rank 4, got [${d.join(', ')}]`);
  if (input.layout === 'NCHW') {
    const [, c, h, w] = d as [number, number, number, number];
    return { c, h, w, rowStride: w, pixelStride: 1, channelStride: h * w };
  }
  const [, h, w, c] = d as [number, number, number, number];
  return { c, h, w, rowStride: w * c, pixelStride: c, channelStride: 1 };
}

/** The input's values as float32, whatever its dtype. */
function asFloats(t: Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return halfToFloat32Array(t.data as Uint16Array);
  if (t.type === 'uint8') return Float32Array.from(t.data as Uint8Array);
  throw new Error(`occlusion takes float32, float16 or uint8 inputs, not ${t.type}`);
}

function fromFloats(type: Tensor.Type, values: Float32Array): Float32Array | Uint16Array | Uint8Array {
  if (type === 'float32') return values;
  if (type === 'float16') return float32ToHalfArray(values);
  return Uint8Array.from(values, (v) => Math.max(0, Math.min(255, Math.round(v))));
}

/** Per channel mean, or a box blur of `radius` pixels, of the input: what covers a cell. */
function fillValues(src: Float32Array, g: Geometry, fill: OcclusionOptions['fill'], radius: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let k = 0; k < g.c; k++) {
    if (fill === 'mean') {
      let sum = 0;
      for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) sum += src[y * g.rowStride + x * g.pixelStride + k * g.channelStride]!;
      const mean = sum / (g.h * g.w);
      for (let y = 0; y < g.h; y++) for (let x = 0; x < g.w; x++) out[y * g.rowStride + x * g.pixelStride + k * g.channelStride] = mean;
      continue;
    }
    // Separable box blur, clamped at the borders.
    const tmp = new Float32Array(g.h * g.w);
    for (let y = 0; y < g.h; y++) {
      for (let x = 0; x < g.w; x++) {
        let sum = 0;
        let n = 0;
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= g.w) continue;
          sum += src[y * g.rowStride + xx * g.pixelStride + k * g.channelStride]!;
          n++;
        }
        tmp[y * g.w + x] = sum / n;
      }
    }
    for (let y = 0; y < g.h; y++) {
      for (let x = 0; x < g.w; x++) {
        let sum = 0;
        let n = 0;
        for (let dy = -radius; dy <= radius; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= g.h) continue;
          sum += tmp[yy * g.w + x]!;
          n++;
        }
        out[y * g.rowStride + x * g.pixelStride + k * g.channelStride] = sum / n;
      }
    }
  }
  return out;
}

/** The pixel rectangle of cell (r, c): rows y0..y1-1, columns x0..x1-1. */
export function cellBounds(r: number, c: number, rows: number, cols: number, h: number, w: number): { y0: number; y1: number; x0: number; x1: number } {
  return {
    y0: Math.floor((r * h) / rows),
    y1: Math.floor(((r + 1) * h) / rows),
    x0: Math.floor((c * w) / cols),
    x1: Math.floor(((c + 1) * w) / cols),
  };
}

/**
 * Occlusion sensitivity: covers each cell of a rows × cols grid in turn and watches the
 * explained class's score. The perturbed inputs go to `score` `batchSize` at a time, each
 * call inside a `turn`, so the live pipeline decides when the work may run.
 */
export async function occlusionMap(input: ImageInput, o: OcclusionOptions): Promise<OcclusionResult & { patch: number }> {
  const g = geometry(input);
  if (o.rows > g.h || o.cols > g.w) throw new Error(`a ${o.rows} × ${o.cols} grid is finer than the ${g.h} × ${g.w} input`);
  const radius = Math.max(1, Math.round(Math.max(g.h / o.rows, g.w / o.cols) / 2));
  // The cover does not depend on the patch size: made once for every pass.
  const cover = fromFloats(input.tensor.type, fillValues(asFloats(input.tensor), g, o.fill, radius));
  const scratch = new Scratch(input.tensor.data as Pixels, o.batchSize);
  let runs = 0;
  for (let patch = o.patch; ; patch++) {
    const pass = await occlusionPass(input, g, cover, scratch, { ...o, patch });
    runs += pass.runs;
    let max = 0;
    for (const d of pass.drops) if (Math.abs(d) > max) max = Math.abs(d);
    if (max >= 0.01 * Math.abs(o.baseScore) || patch >= o.maxPatch) return { drops: pass.drops, runs, patch };
  }
}

type Pixels = Float32Array | Uint16Array | Uint8Array;

/**
 * The perturbed inputs of one batch, written into buffers kept for the whole map rather than
 * a fresh copy of the input per cell: a map scores about a hundred inputs, and as many
 * short-lived copies of a 224² input would make the event loop's garbage collector run
 * (and pause the live frames) far more often. Scoring copies what it sends to the model,
 * so a buffer is free again once its batch was scored.
 */
class Scratch {
  private readonly buffers: Pixels[] = [];

  constructor(private readonly original: Pixels, private readonly size: number) {}

  /** Buffer `slot` of the batch, holding the original input again. */
  take(slot: number): Pixels {
    if (slot >= this.size) throw new Error(`slot ${slot} beyond a batch of ${this.size}`);
    const held = this.buffers[slot];
    if (held) {
      held.set(this.original);
      return held;
    }
    const fresh = this.original.slice();
    this.buffers[slot] = fresh;
    return fresh;
  }
}

async function occlusionPass(input: ImageInput, g: Geometry, cover: Pixels, scratch: Scratch, o: OcclusionOptions): Promise<OcclusionResult> {
  const k = Math.min(o.patch, o.rows, o.cols);
  // Blocks of k × k cells at every cell position where they fit, row by row.
  const across = o.cols - k + 1;
  const blocks = (o.rows - k + 1) * across;
  const drops = new Float32Array(blocks);
  for (let start = 0; start < blocks; start += o.batchSize) {
    if (o.signal?.aborted) throw new Error('occlusion aborted');
    const end = Math.min(blocks, start + o.batchSize);
    const scores = await o.turn(() => {
      const batch: Tensor[] = [];
      for (let i = start; i < end; i++) {
        const data = scratch.take(i - start);
        const top = cellBounds(Math.floor(i / across), i % across, o.rows, o.cols, g.h, g.w);
        const bottom = cellBounds(Math.floor(i / across) + k - 1, (i % across) + k - 1, o.rows, o.cols, g.h, g.w);
        for (let ch = 0; ch < g.c; ch++) {
          for (let y = top.y0; y < bottom.y1; y++) {
            const row = y * g.rowStride + ch * g.channelStride;
            for (let x = top.x0; x < bottom.x1; x++) data[row + x * g.pixelStride] = cover[row + x * g.pixelStride]!;
          }
        }
        batch.push(new Tensor(input.tensor.type as 'float32', data as Float32Array, input.tensor.dims));
      }
      return o.score(batch);
    });
    for (let i = start; i < end; i++) {
      const v = scores[i - start]?.[o.classIndex];
      if (v === undefined || Number.isNaN(v)) throw new Error(`no score for class ${o.classIndex} with block ${i} covered`);
      drops[i] = o.baseScore - v;
    }
  }
  return { drops: k > 1 ? spread(drops, o.rows, o.cols, k) : drops, runs: blocks };
}

/**
 * With blocks of k × k cells, a cell's heat is the sum of the drops of the blocks that
 * contain it, over k²: a defect that only a whole block hides is credited to the cells
 * every hiding block shares, and a cell at the border, inside fewer blocks, gets no bonus.
 */
function spread(drops: Float32Array, rows: number, cols: number, k: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const across = cols - k + 1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let br = Math.max(0, r - k + 1); br <= Math.min(rows - k, r); br++) {
        for (let bc = Math.max(0, c - k + 1); bc <= Math.min(cols - k, c); bc++) sum += drops[br * across + bc]!;
      }
      out[r * cols + c] = sum / (k * k);
    }
  }
  return out;
}
