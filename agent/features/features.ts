import type { FeatureFunction } from '../config/sensor-schema.js';
import type { SensorWindow } from './sensor-window.js';
import { goodNumber } from './tag-sample.js';

/** One tag's statistics over one window: every feature function at once, in one pass. */
export interface WindowStats {
  /** Good readings in the window. */
  count: number;
  last: number | undefined;
  mean: number;
  min: number;
  max: number;
  std: number;
  /** Least-squares slope, units per second. */
  slope: number;
  /** Readings or gap markers in the window that were not good. */
  notGood: number;
  /** The link broke inside the window (or before it, and has not come back). */
  gap: boolean;
  /** The newest sample at or before the window's end is a good reading (or the value held after a gap). */
  currentGood: boolean;
}

/**
 * Statistics of the samples with source time in (end − size, end]. A tag reported on
 * change only may have no sample in the window: its held value (the last reading before
 * the window, if nothing bad followed it) stands for the whole window.
 */
export function windowStats(window: SensorWindow, end: number, size: number): WindowStats {
  const start = end - size;
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  let min = Infinity;
  let max = -Infinity;
  let sumT = 0;
  let sumTT = 0;
  let sumTV = 0;
  let last: number | undefined;
  let held: number | undefined;
  let notGood = 0;
  let gap = false;
  let currentGood = false;
  const { items, from } = window.since(start);
  for (let i = from; i < items.length; i++) {
    const s = items[i]!;
    if (s.sourceTs > end) break;
    const v = goodNumber(s);
    if (s.sourceTs <= start) {
      // The state at the window's start: the newest earlier sample decides it alone.
      held = v;
      currentGood = v !== undefined;
      gap = s.gap === true;
      continue;
    }
    currentGood = v !== undefined;
    if (s.gap) gap = true;
    if (s.held) {
      held = v;
      continue;
    }
    if (v === undefined) {
      notGood++;
      continue;
    }
    n++;
    sum += v;
    sumSq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
    const t = (s.sourceTs - start) / 1000;
    sumT += t;
    sumTT += t * t;
    sumTV += t * v;
    last = v;
  }
  if (n === 0) {
    const h = currentGood ? held : undefined;
    return { count: 0, last: h, mean: h ?? NaN, min: h ?? NaN, max: h ?? NaN, std: h === undefined ? NaN : 0, slope: h === undefined ? NaN : 0, notGood, gap, currentGood: h !== undefined };
  }
  const mean = sum / n;
  const variance = Math.max(0, sumSq / n - mean * mean);
  const denom = n * sumTT - sumT * sumT;
  const slope = n > 1 && denom > 0 ? (n * sumTV - sumT * sum) / denom : 0;
  return { count: n, last, mean, min, max, std: Math.sqrt(variance), slope, notGood, gap, currentGood };
}

/** The value of one feature function from a tag's statistics; NaN when it has no value. */
export function featureValue(stats: WindowStats, fn: FeatureFunction): number {
  switch (fn) {
    case 'count':
      return stats.count;
    case 'last':
      return stats.last ?? NaN;
    default:
      return stats[fn];
  }
}
