import sharp from 'sharp';
import { Tensor } from 'onnxruntime-node';
import type { PreprocessSpec } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import { toHalf } from './float16.js';
import { jpegSize } from './jpeg-size.js';
import { type FrameView, rotatedCrop, viewMismatch, viewOf } from './frame-view.js';
import { type InputPool, newPixels, type Pixels } from './input-pool.js';

/*
 * libvips' operation cache keeps recent results in case the same operation runs again.
 * Every frame is a new buffer, so nothing ever hits, and the cache only pins up to
 * 50 MB of decoded pixels per process on a small box. Turning it off changes no result.
 */
sharp.cache(false);

/**
 * 8192 × 8192, the largest frame the synthetic source makes. Far above any line camera,
 * far below sharp's own 16383² default, which would let one crafted header ask for ~1 GB.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 8192 * 8192;

/** A frame ready for a model. */
export interface PreprocessedImage {
  /** [1, C, H, W] (NCHW) or [1, H, W, C] (NHWC) in the spec's dtype. */
  readonly tensor: Tensor;
  /** The decoded image's own size, before resizing (as stored: EXIF orientation is not applied). */
  readonly width: number;
  readonly height: number;
  /** The resized 8-bit pixels the tensor was made from (HWC), for input statistics. */
  readonly pixels: Uint8Array;
}


/**
 * Turns encoded camera images into model input tensors, one spec per model.
 *
 * Normalisation is precomputed as one 256-entry table per output channel holding
 * `(v * scale - mean[c]) / std[c]` already in the output dtype (float16 bits included),
 * so the per-pixel work is a table lookup and a store. mean/std are indexed in the
 * spec's channel order (for BGR, mean[0] is blue). dtype `uint8` passes raw pixels and
 * ignores scale/mean/std.
 */
export class ImagePreprocessor {
  readonly spec: PreprocessSpec;
  readonly channels: 1 | 3;
  readonly dims: readonly number[];
  private readonly maxInputPixels: number;
  /** Per output channel c, the source channel in sharp's RGB (or grey) pixels. */
  private readonly sourceChannel: readonly number[];
  /** Table c * 256 + v -> output value for channel c and pixel value v. */
  private readonly table: Pixels;

  constructor(spec: PreprocessSpec, opts: { maxInputPixels?: number } = {}) {
    this.spec = spec;
    this.maxInputPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
    this.channels = spec.channels === 'GRAY' ? 1 : 3;
    const c = this.channels;
    this.dims = spec.layout === 'NCHW' ? [1, c, spec.height, spec.width] : [1, spec.height, spec.width, c];
    this.sourceChannel = spec.channels === 'BGR' ? [2, 1, 0] : spec.channels === 'RGB' ? [0, 1, 2] : [0];
    this.table = buildTable(spec, c);
  }

  /**
   * Decodes, fits and normalises one image, seen through its camera's view (crop, then
   * rotation) when it has one. Throws AgentError E_IMAGE_DECODE for anything sharp refuses.
   */
  async toTensor(image: Buffer, view: FrameView | undefined = viewOf(image), into?: InputPool): Promise<PreprocessedImage> {
    const { spec } = this;
    let pixels: Buffer;
    let width: number;
    let height: number;
    try {
      const img = sharp(image, {
        // 'truncated' would already refuse a cut-off JPEG; 'warning' (sharp 0.35's default,
        // pinned so a refactor cannot loosen it) also refuses data libjpeg only warns about
        // ("corrupt JPEG data"). A half-grey part still gets a verdict, and a wrong verdict
        // is worse than a refused frame. 'none' would decode the missing half as grey.
        failOn: 'warning',
        limitInputPixels: this.maxInputPixels,
      });
      // A JPEG's size is in its header: read here, it saves a round trip to sharp's pool per frame.
      const meta = jpegSize(image) ?? (await img.metadata());
      if (meta.width === undefined || meta.height === undefined) throw new Error('image has no dimensions');
      width = meta.width;
      height = meta.height;
      if (view) {
        const mismatch = viewMismatch(view, width, height);
        if (mismatch) throw new Error(mismatch);
        // sharp crops before a resize only when the rotation comes first, so the crop is
        // mapped into the rotated picture; the result is the same as crop-then-rotate.
        if (view.rotate) img.rotate(view.rotate);
        if (view.crop) img.extract(rotatedCrop(view, width, height));
      }
      const out = await img
        .resize(spec.width, spec.height, { fit: spec.fit, background: { r: 0, g: 0, b: 0, alpha: 1 } })
        .removeAlpha()
        // Both colourspaces also bring 16-bit PNG/TIFF down to 8 bits per channel.
        .toColourspace(this.channels === 1 ? 'b-w' : 'srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (out.info.width !== spec.width || out.info.height !== spec.height || out.info.channels !== this.channels) {
        throw new Error(`sharp returned ${out.info.width}x${out.info.height}x${out.info.channels}`);
      }
      pixels = out.data;
    } catch (err) {
      throw new AgentError('E_IMAGE_DECODE', `image could not be decoded: ${errorMessage(err)}`, { cause: err });
    }
    return { tensor: new Tensor(spec.dtype, this.convert(pixels, into), this.dims), width, height, pixels };
  }

  /** Interleaved (HWC) 8-bit pixels -> the spec's layout, channel order and dtype. */
  private convert(src: Uint8Array, into: InputPool | undefined): Pixels {
    const n = this.spec.width * this.spec.height;
    const c = this.channels;
    const out = into?.take() ?? newPixels(this.spec.dtype, n * c);
    const t = this.table;
    // Where channel k of pixel p lands: out[p * pixelStride + k * channelStride].
    const pixelStride = this.spec.layout === 'NCHW' ? 1 : c;
    const channelStride = this.spec.layout === 'NCHW' ? n : 1;
    if (c === 1) {
      for (let p = 0; p < n; p++) out[p] = t[src[p]!]!;
      return out;
    }
    const [s0, s1, s2] = this.sourceChannel as [number, number, number];
    const o1 = channelStride;
    const o2 = 2 * channelStride;
    for (let p = 0, s = 0, o = 0; p < n; p++, s += 3, o += pixelStride) {
      out[o] = t[src[s + s0]!]!;
      out[o + o1] = t[256 + src[s + s1]!]!;
      out[o + o2] = t[512 + src[s + s2]!]!;
    }
    return out;
  }
}

function buildTable(spec: PreprocessSpec, channels: number): Pixels {
  for (const [name, values] of [['mean', spec.mean], ['std', spec.std]] as const) {
    if (values.length !== 1 && values.length !== channels) {
      throw new AgentError(
        'E_PREPROCESS_CONFIG',
        `preprocess ${name} has ${values.length} values; give 1 (all channels) or ${channels} (one per ${spec.channels} channel)`,
      );
    }
  }
  const table = newPixels(spec.dtype, channels * 256);
  for (let c = 0; c < channels; c++) {
    const mean = spec.mean[spec.mean.length === 1 ? 0 : c]!;
    const std = spec.std[spec.std.length === 1 ? 0 : c]!;
    for (let v = 0; v < 256; v++) {
      const value = (v * spec.scale - mean) / std;
      table[c * 256 + v] = spec.dtype === 'uint8' ? v : spec.dtype === 'float16' ? toHalf(value) : value;
    }
  }
  return table;
}
