import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import type { PreprocessSpec } from '../../agent/config/schema.js';

/*
 * The baseline: what a hand-written loop does with sharp and onnxruntime directly, none of
 * the agent's classes. Its tensor must equal the agent's bit for bit (run.ts checks), so the
 * two sides do the same work and differ only in how the agent organises it.
 */

export interface FrameLoopResult {
  fps: number;
  /** Decode + inference of each measured frame, ms (only meaningful one frame at a time). */
  frameMs: number[];
}

export class BareModel {
  private readonly table: Uint16Array | Float32Array;
  private readonly channels: 1 | 3;

  private constructor(
    private readonly session: InferenceSession,
    private readonly input: string,
    private readonly spec: PreprocessSpec,
  ) {
    if (spec.layout !== 'NCHW' || spec.fit !== 'fill' || spec.mean.some((m) => m !== 0) || spec.std.some((s) => s !== 1)) {
      throw new Error('the bare loop handles NCHW, fit "fill", mean 0 and std 1 only');
    }
    this.channels = spec.channels === 'GRAY' ? 1 : 3;
    this.table = valueTable(spec);
  }

  /** Same session options as the agent's ModelSession: what differs must be the agent, not onnxruntime. */
  static async load(path: string, spec: PreprocessSpec, threads: number, input?: string): Promise<BareModel> {
    const session = await InferenceSession.create(path, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
    return new BareModel(session, input ?? session.inputNames[0]!, spec);
  }

  async preprocess(jpeg: Buffer): Promise<Tensor> {
    const { width, height, channels, dtype } = this.spec;
    let img = sharp(jpeg).resize(width, height, { fit: 'fill' });
    if (channels === 'GRAY') img = img.toColourspace('b-w');
    const px = await img.raw().toBuffer();
    const n = width * height;
    const out = dtype === 'float16' ? new Uint16Array(n * this.channels) : new Float32Array(n * this.channels);
    const t = this.table;
    if (this.channels === 1) {
      for (let p = 0; p < n; p++) out[p] = t[px[p]!]!;
    } else {
      const [r, b] = channels === 'BGR' ? [2 * n, 0] : [0, 2 * n];
      for (let p = 0, s = 0; p < n; p++, s += 3) {
        out[r + p] = t[px[s]!]!;
        out[n + p] = t[px[s + 1]!]!;
        out[b + p] = t[px[s + 2]!]!;
      }
    }
    return new Tensor(dtype === 'float16' ? 'float16' : 'float32', out, [1, this.channels, height, width]);
  }

  async run(tensor: Tensor): Promise<void> {
    await this.session.run({ [this.input]: tensor });
  }

  /** Decode + inference, one frame after the other. */
  async sequential(frames: readonly Buffer[], warm: number, n: number): Promise<FrameLoopResult> {
    for (let i = 0; i < warm; i++) await this.run(await this.preprocess(frameAt(frames, i)));
    const frameMs: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await this.run(await this.preprocess(frameAt(frames, warm + i)));
      frameMs.push(performance.now() - start);
    }
    return { fps: n / ((performance.now() - t0) / 1000), frameMs };
  }

  /**
   * Two frames in flight: while one is in inference (onnxruntime-node runs on the JS thread)
   * the other decodes on libuv's pool, so decode and inference share the two cores.
   */
  async overlapped(frames: readonly Buffer[], warm: number, n: number, inFlight = 2): Promise<FrameLoopResult> {
    const pass = async (from: number, count: number) => {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < count; i = next++) await this.run(await this.preprocess(frameAt(frames, from + i)));
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    };
    await pass(0, warm);
    const t0 = performance.now();
    await pass(warm, n);
    return { fps: n / ((performance.now() - t0) / 1000), frameMs: [] };
  }

  /** ms per session.run on one prepared tensor. */
  async inference(tensor: Tensor, runs: number): Promise<number> {
    for (let i = 0; i < 5; i++) await this.run(tensor);
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await this.run(tensor);
    return (performance.now() - t0) / runs;
  }

  /** ms per decode + resize + tensor, one frame after the other. */
  async preprocessing(frames: readonly Buffer[], n: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await this.preprocess(frameAt(frames, i));
    return (performance.now() - t0) / n;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export function frameAt(frames: readonly Buffer[], i: number): Buffer {
  return frames[i % frames.length]!;
}

/** Pixel value 0–255 → model input value, as float16 bits or float32. */
function valueTable(spec: PreprocessSpec): Uint16Array | Float32Array {
  if (spec.dtype === 'float32') return Float32Array.from({ length: 256 }, (_, v) => v * spec.scale);
  if (spec.dtype !== 'float16' || spec.scale !== 1) throw new Error('the bare loop handles float32, or float16 of raw 0–255 values');
  // Integers up to 2048 are exact in half precision: exponent from the top bit, the rest is the mantissa.
  return Uint16Array.from({ length: 256 }, (_, v) => {
    if (v === 0) return 0;
    const e = 31 - Math.clz32(v);
    return ((e + 15) << 10) | (((v << 10) >>> e) & 0x3ff);
  });
}
