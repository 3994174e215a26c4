/** A grid of values as one byte per cell with the range to read them back. */
export interface QuantisedGrid {
  /** base64 of one byte per value. */
  heat: string;
  min: number;
  max: number;
}

/**
 * Quantises to 256 levels between the smallest and largest value. The largest value always
 * maps to 255 and the smallest to 0, so the hottest cell survives the rounding.
 */
export function quantise(values: ArrayLike<number>): QuantisedGrid {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new Error(`cannot quantise ${v}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) return { heat: '', min: 0, max: 0 };
  const span = max - min;
  const bytes = Buffer.alloc(values.length);
  for (let i = 0; i < values.length; i++) bytes[i] = span > 0 ? Math.round(((values[i]! - min) / span) * 255) : 0;
  return { heat: bytes.toString('base64'), min, max };
}
