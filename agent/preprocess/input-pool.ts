import type { PreprocessSpec } from '../config/schema.js';

/** A model input's values in the spec's dtype (float16 as its bits). */
export type Pixels = Float32Array | Uint16Array | Uint8Array;

/** A fresh buffer of `length` values of `dtype`. */
export function newPixels(dtype: PreprocessSpec['dtype'], length: number): Pixels {
  if (dtype === 'float32') return new Float32Array(length);
  if (dtype === 'float16') return new Uint16Array(length);
  return new Uint8Array(length);
}

/**
 * Input buffers for the live frames, handed back once a frame's inference is done. A fresh
 * input per frame (300 KB for a 224² float16 image) is memory V8 counts against its
 * collection limits, so at a camera's rate the event loop's full collections came several
 * times a second, each a pause for the frames in flight. Frames in flight are bounded by
 * the pipeline, and so is this pool: at most `keep` buffers wait here.
 */
export class InputPool {
  private readonly free: Pixels[] = [];

  constructor(
    private readonly dtype: PreprocessSpec['dtype'],
    private readonly length: number,
    private readonly keep = 4,
  ) {}

  take(): Pixels {
    return this.free.pop() ?? newPixels(this.dtype, this.length);
  }

  /** Gives a buffer back; nothing may read or write it afterwards. */
  give(buffer: Pixels): void {
    if (this.free.length < this.keep && buffer.length === this.length) this.free.push(buffer);
  }
}
