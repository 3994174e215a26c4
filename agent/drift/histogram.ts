import type { Histogram } from '../../protocol/reference-profile.js';

/** Quantile bins of reference values: equal-count bins between the minimum and the maximum. */
export function buildHistogram(values: readonly number[], bins = 10): Histogram {
  if (values.length === 0) throw new RangeError('a histogram needs at least one value');
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  for (let k = 0; k <= bins; k++) edges.push(sorted[Math.min(sorted.length - 1, Math.round((k * (sorted.length - 1)) / bins))]!);
  const counts = new Array<number>(bins).fill(0);
  for (const v of sorted) counts[binOf(edges, v)]!++;
  let mean = 0;
  for (const v of sorted) mean += v;
  mean /= sorted.length;
  let sq = 0;
  for (const v of sorted) sq += (v - mean) ** 2;
  return { edges, counts, mean, std: Math.sqrt(sq / sorted.length) };
}

/**
 * The bin a value falls in: values below the first edge go to the first bin and above the
 * last to the last (they are also counted as out of range by the caller). Equal edges
 * (many equal reference values) send the value to the first bin that can hold it.
 */
export function binOf(edges: readonly number[], v: number): number {
  const bins = edges.length - 1;
  let lo = 0;
  let hi = bins - 1;
  // The first bin whose upper edge is >= v.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (edges[mid + 1]! >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Live values of one statistic in a window, binned on the reference's edges. */
export class LiveBins {
  readonly counts: number[];
  outOfRange = 0;
  n = 0;

  constructor(readonly reference: Histogram) {
    this.counts = new Array<number>(reference.counts.length).fill(0);
  }

  add(v: number): void {
    const e = this.reference.edges;
    if (v < e[0]! || v > e[e.length - 1]!) this.outOfRange++;
    this.counts[binOf(e, v)]!++;
    this.n++;
  }
}
