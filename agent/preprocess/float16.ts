/*
 * IEEE 754 half precision (binary16) to and from float32, bit by bit.
 *
 * Node 20 has no Float16Array, and onnxruntime hands float16 tensors over as the raw
 * bits in a Uint16Array, so both directions go through one shared float32/uint32 view:
 * no allocation per value. Rounding is to nearest, ties to even, like the hardware.
 *
 * Inputs are JavaScript numbers (doubles). They are rounded to float32 first, so a
 * double that is not a float32 can, in rare tie cases, round differently from a direct
 * double -> half conversion; for values that came from float32 maths this is exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Smallest float32 (as bits) that rounds to +Inf in half: 65520, halfway between 65504 and 65536. */
const HALF_OVERFLOW = 0x477ff000;
/** 2^-14, the smallest normal half, as float32 bits. */
const HALF_MIN_NORMAL = 0x38800000;

/** The half-precision bits of a number (first rounded to float32). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;

  if (abs >= 0x7f800000) {
    // Inf stays Inf; NaN keeps the top of its payload and is made quiet so it cannot turn into Inf.
    return abs === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
  }
  if (abs >= HALF_OVERFLOW) return sign | 0x7c00;

  if (abs < HALF_MIN_NORMAL) {
    // Subnormal half: value = m * 2^-24, so m is the 24-bit significand shifted right by 126 - exponent.
    const shift = 126 - (abs >>> 23);
    // JS shifts are mod 32, and anything shifted further than 24 is below half of 2^-24: zero.
    if (shift > 24) return sign;
    const mant = (abs & 0x7fffff) | 0x800000;
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (m & 1) === 1)) m++;
    // m may carry to 0x400, which is exactly the bit pattern of the smallest normal.
    return sign | m;
  }

  // Normal: rebias the exponent (127 -> 15) and keep the top 10 mantissa bits, then round.
  let h = (abs >>> 13) - ((127 - 15) << 10);
  const rest = abs & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct rounding
  return sign | h;
}

/** The number a half-precision bit pattern stands for. */
export function fromHalf(bits: number): number {
  const sign = (bits & 0x8000) << 16;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) {
    // Zero or subnormal: exact in float32 and in double.
    const v = mant * 2 ** -24;
    return sign === 0 ? v : -v;
  }
  if (exp === 0x1f) {
    u32[0] = sign | 0x7f800000 | (mant << 13);
  } else {
    u32[0] = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return f32[0]!;
}

/** float32 values to half bits; writes into `out` when given (it must be at least as long). */
export function float32ToHalfArray(src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`output holds ${out.length} values, input has ${src.length}`);
  for (let i = 0; i < src.length; i++) out[i] = toHalf(src[i]!);
  return out;
}

/** Half bits to float32 values; writes into `out` when given (it must be at least as long). */
export function halfToFloat32Array(src: ArrayLike<number>, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`output holds ${out.length} values, input has ${src.length}`);
  for (let i = 0; i < src.length; i++) out[i] = fromHalf(src[i]!);
  return out;
}
