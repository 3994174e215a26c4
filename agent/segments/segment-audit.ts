import type { Logger } from 'pino';
import type { SegmentStats } from '../../protocol/feedback.js';
import type { PredictionStep } from '../../protocol/predictions.js';
import type { Clock } from '../clock.js';
import type { SegmentsConfig } from '../config/feedback-schema.js';
import type { EventSink } from '../events.js';
import type { TagBoard } from '../features/tag-board.js';
import type { Component } from '../lifecycle/component.js';
import { SegmentFigures } from './segment-figures.js';
import type { SegmentStatsStore } from './segment-store.js';

/** How many recent predictions remember their segments, for labels that come later. */
const REMEMBERED = 4096;

/** One disparity found at the end of a period: a segment against the typical segment of its model and key. */
export interface Disparity {
  model: string;
  key: string;
  value: string;
  measure: 'classMix' | 'confidence' | 'fallbackShare' | 'accuracy';
  difference: number;
  limit: number;
}

/** The latest closed period, for the status JSON. */
export interface SegmentsView {
  keys: string[];
  periodS: number;
  lastPeriod: { endedAt: number; segments: SegmentStats[]; disparities: Disparity[] } | undefined;
}

export interface SegmentAuditOptions {
  config: SegmentsConfig;
  store: SegmentStatsStore;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** Told when a period's statistics are stored (the sync). */
  onStored?: () => void;
}

/**
 * Statistics per segment (camera, line, product code, any tag) and audit period: prediction
 * count per class, mean confidence, fallback share and, where labels came, accuracy. At the
 * end of each period every segment with enough predictions is compared with the typical
 * segment of its model; a difference beyond a limit raises `segment_disparity` (once, until it clears).
 */
export class SegmentAudit implements Component {
  readonly name = 'segments';
  /** model → key → value → figures */
  private figures = new Map<string, Map<string, Map<string, SegmentFigures>>>();
  private readonly recent = new Map<number, { model: string; values: string[] }>();
  private readonly active = new Set<string>();
  private startedAt: number;
  private startedMono: number;
  private timer: NodeJS.Timeout | undefined;
  private last: SegmentsView['lastPeriod'];
  /** Where `from: tag` keys read their values; set once OPC-UA is built. */
  board: TagBoard | undefined;

  constructor(private readonly o: SegmentAuditOptions) {
    this.startedAt = o.clock.now();
    this.startedMono = o.clock.monotonic();
  }

  async start(): Promise<void> {
    // A quiet line still closes its periods; a busy one closes them on the prediction that ends one.
    this.timer = setInterval(() => this.maybeClose(), Math.min(this.o.config.periodS * 1000, 60_000) / 4);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  /** Counts one prediction in its segments; `seq` lets a later label find them. */
  observe(model: string, source: string, label: string, score: number, step: PredictionStep | undefined, seq?: Promise<number>): void {
    const values = this.o.config.keys.map((k) => (k.from === 'source' ? source : tagValue(this.board, k.tag!)));
    const keys = this.keysOf(model);
    const fallback = step !== undefined && step !== 'model';
    this.o.config.keys.forEach((k, i) => figuresOf(keys, k.name, values[i]!).add(label, score, fallback));
    seq?.then(
      (s) => {
        this.recent.set(s, { model, values });
        if (this.recent.size > REMEMBERED) this.recent.delete(this.recent.keys().next().value!);
      },
      () => undefined,
    );
    this.maybeClose();
  }

  /** Counts a label in the segments of its prediction (its camera or server alone when the prediction is no longer remembered). */
  labelled(seq: number, model: string, source: string, correct: boolean): void {
    const remembered = this.recent.get(seq);
    const keys = this.keysOf(model);
    this.o.config.keys.forEach((k, i) => {
      const value = remembered?.model === model ? remembered.values[i] : k.from === 'source' ? source : undefined;
      if (value === undefined) return;
      const f = figuresOf(keys, k.name, value);
      f.labelled++;
      if (correct) f.correct++;
    });
  }

  view(): SegmentsView {
    return { keys: this.o.config.keys.map((k) => k.name), periodS: this.o.config.periodS, lastPeriod: this.last };
  }

  /** Closes the running period now (also what the timer and `observe` do once `periodS` is up). */
  closePeriod(): void {
    const endedAt = this.o.clock.now();
    const startedAt = this.startedAt;
    const figures = this.figures;
    this.figures = new Map();
    this.startedAt = endedAt;
    this.startedMono = this.o.clock.monotonic();
    const rows: Array<Omit<SegmentStats, 'id'>> = [];
    const disparities: Disparity[] = [];
    for (const [model, keys] of figures) {
      for (const [key, values] of keys) {
        for (const [value, f] of values) {
          rows.push({ model, key, value, startedAt, endedAt, predictions: f.predictions, classes: Object.fromEntries(f.classes), meanConfidence: round(f.meanConfidence()), fallbackShare: round(f.fallbackShare())!, labelled: f.labelled, accuracy: round(f.accuracy()) });
        }
        disparities.push(...this.compare(model, key, values));
      }
    }
    if (rows.length === 0) return;
    const stored = this.o.store.add(rows);
    this.report(disparities);
    this.last = { endedAt, segments: stored, disparities };
    this.o.onStored?.();
  }

  private maybeClose(): void {
    if (this.o.clock.monotonic() - this.startedMono >= this.o.config.periodS * 1000) this.closePeriod();
  }

  /**
   * Each segment against the typical segment of its model and key: per label the median
   * share, and the median confidence, fallback share and accuracy over the segments. A
   * median, not the pooled rest, so one odd segment stands out alone instead of pulling
   * the others' reference towards it (with two segments, both differ from their middle).
   */
  private compare(model: string, key: string, values: Map<string, SegmentFigures>): Disparity[] {
    const c = this.o.config;
    const d = c.disparity;
    const big = [...values].filter(([, f]) => f.predictions >= c.minPredictions);
    if (big.length < 2) return [];
    const labels = new Set(big.flatMap(([, f]) => [...f.classes.keys()]));
    const typical = new Map([...labels].map((l) => [l, median(big.map(([, f]) => (f.classes.get(l) ?? 0) / f.predictions))]));
    const total = [...typical.values()].reduce((a, b) => a + b, 0);
    const confidence = median(big.map(([, f]) => f.meanConfidence() ?? 0));
    const fallback = median(big.map(([, f]) => f.fallbackShare()));
    const labelled = big.filter(([, f]) => f.labelled >= d.minLabels);
    const accuracy = labelled.length >= 2 ? median(labelled.map(([, f]) => f.accuracy()!)) : undefined;
    const out: Disparity[] = [];
    for (const [value, f] of big) {
      const check = (measure: Disparity['measure'], difference: number, limit: number) => {
        if (difference > limit) out.push({ model, key, value, measure, difference: round(difference)!, limit });
      };
      let tvd = 0;
      for (const l of labels) tvd += Math.abs((f.classes.get(l) ?? 0) / f.predictions - (total > 0 ? typical.get(l)! / total : 0));
      check('classMix', tvd / 2, d.classMix);
      check('confidence', Math.abs((f.meanConfidence() ?? 0) - confidence), d.confidence);
      check('fallbackShare', Math.abs(f.fallbackShare() - fallback), d.fallbackShare);
      if (accuracy !== undefined && f.labelled >= d.minLabels) check('accuracy', Math.abs(f.accuracy()! - accuracy), d.accuracy);
    }
    return out;
  }

  /** An event when a disparity starts and when it is gone, not every period. */
  private report(disparities: Disparity[]): void {
    const now = new Set<string>();
    for (const d of disparities) {
      const id = `${d.model}|${d.key}|${d.value}|${d.measure}`;
      now.add(id);
      if (this.active.has(id)) continue;
      const message = `${d.model}: ${d.key} ${d.value} differs from the typical ${d.key} in ${d.measure} by ${d.difference} (limit ${d.limit})`;
      this.o.log.warn({ ...d }, message);
      this.o.events.record({ level: 'warn', kind: 'segment_disparity', source: `segments:${d.model}`, message, detail: { ...d } });
    }
    for (const id of this.active) {
      if (now.has(id)) continue;
      const [model, key, value, measure] = id.split('|');
      this.o.events.record({ level: 'info', kind: 'segment_disparity_cleared', source: `segments:${model}`, message: `${model}: ${key} ${value} no longer differs in ${measure}`, detail: { model, key, value, measure } });
    }
    this.active.clear();
    for (const id of now) this.active.add(id);
  }

  private keysOf(model: string): Map<string, Map<string, SegmentFigures>> {
    let keys = this.figures.get(model);
    if (!keys) this.figures.set(model, (keys = new Map()));
    return keys;
  }
}

function figuresOf(keys: Map<string, Map<string, SegmentFigures>>, key: string, value: string): SegmentFigures {
  let values = keys.get(key);
  if (!values) keys.set(key, (values = new Map()));
  let f = values.get(value);
  if (!f) values.set(value, (f = new SegmentFigures()));
  return f;
}

/** A tag's newest reading as a segment value; `unknown` before the first. */
function tagValue(board: TagBoard | undefined, tag: string): string {
  const v = board?.tags.get(tag)?.lastReading?.value;
  return v === undefined || v === null ? 'unknown' : String(v);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 10_000) / 10_000;
}
