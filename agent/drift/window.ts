import type { Histogram, ReferenceProfile } from '../../protocol/reference-profile.js';
import { SubgroupCharts } from './control-charts.js';
import { chiSquare, jensenShannon, ks, psi } from './divergence.js';
import { LiveBins } from './histogram.js';
import type { ImageStats } from './image-stats.js';
import type { Limits } from './judge.js';

/** What drift sees of one prediction. */
export interface DriftSample {
  image?: ImageStats | undefined;
  /** Tabular inputs by feature name. */
  features?: Readonly<Record<string, number>> | undefined;
  /** The predicted class, for classifiers. */
  label?: string | undefined;
  /** The output score, for regressors and anomaly detectors. */
  score?: number | undefined;
  top1: number;
  entropy: number;
}

export interface DriftLimits {
  psi: Limits;
  ks: Limits;
  js: Limits;
  outOfRange: Limits;
  chiSquareP: Limits;
  chart: Limits;
}

/** A window's measured values, each with the limits it is judged by. */
export interface WindowValue {
  subject: string;
  statistic: string;
  value: number;
  limits: Limits;
}

/** Image statistics and the confidence also get control charts, sample by sample. */
const CHARTED: ReadonlyArray<keyof ImageStats> = ['brightness', 'sharpness'];

/** One binned quantity: what it measures, its reference histogram, this window's bins. */
interface Slot {
  subject: string;
  reference: Histogram;
  bins: LiveBins;
}

/**
 * One window of live samples binned on the reference profile's edges. Control charts run
 * across windows (they carry their state), the bins start afresh each window. Every slot
 * is laid out once, so a sample costs lookups in arrays, not strings or maps.
 */
export class DriftWindow {
  n = 0;
  private readonly imageSlots: Array<Slot & { stat: keyof ImageStats }>;
  private readonly featureSlots: Array<Slot & { feature: string }>;
  private readonly scoreSlot: Slot | undefined;
  private readonly top1Slot: Slot;
  private readonly entropySlot: Slot;
  private readonly labelIndex = new Map<string, number>();
  private classCounts: number[] = [];
  private readonly charts: Array<{ subject: string; charts: SubgroupCharts; read: (s: DriftSample) => number | undefined }> = [];

  constructor(
    private readonly profile: ReferenceProfile,
    private readonly limits: DriftLimits,
  ) {
    const slot = (subject: string, reference: Histogram): Slot => ({ subject, reference, bins: new LiveBins(reference) });
    this.imageSlots = (Object.entries(profile.image ?? {}) as Array<[keyof ImageStats, Histogram]>).map(([stat, h]) => ({ ...slot(`image.${stat}`, h), stat }));
    this.featureSlots = Object.entries(profile.features ?? {}).map(([feature, h]) => ({ ...slot(`feature.${feature}`, h), feature }));
    this.scoreSlot = profile.outputs.kind === 'scores' ? slot('output.score', profile.outputs.histogram) : undefined;
    this.top1Slot = slot('confidence.top1', profile.confidence.top1);
    this.entropySlot = slot('confidence.entropy', profile.confidence.entropy);
    if (profile.outputs.kind === 'classes') profile.outputs.labels.forEach((l, i) => this.labelIndex.set(l, i));
    for (const stat of CHARTED) {
      const h = profile.image?.[stat];
      if (h) this.charts.push({ subject: `image.${stat}`, charts: new SubgroupCharts(h.mean, h.std), read: (s) => s.image?.[stat] });
    }
    this.charts.push({ subject: 'confidence.top1', charts: new SubgroupCharts(profile.confidence.top1.mean, profile.confidence.top1.std), read: (s) => s.top1 });
    this.reset();
  }

  add(s: DriftSample): void {
    this.n++;
    if (s.image) for (const slot of this.imageSlots) slot.bins.add(s.image[slot.stat]);
    if (s.features) {
      for (const slot of this.featureSlots) {
        const v = s.features[slot.feature];
        if (v !== undefined && Number.isFinite(v)) slot.bins.add(v);
      }
    }
    if (s.label !== undefined) {
      const i = this.labelIndex.get(s.label);
      if (i !== undefined) this.classCounts[i]!++;
    }
    if (this.scoreSlot && s.score !== undefined) this.scoreSlot.bins.add(s.score);
    this.top1Slot.bins.add(s.top1);
    this.entropySlot.bins.add(s.entropy);
    for (const c of this.charts) {
      const v = c.read(s);
      if (v !== undefined) c.charts.add(v);
    }
  }

  /** The window's statistics; the bins start afresh. */
  close(): WindowValue[] {
    const values: WindowValue[] = [];
    const L = this.limits;
    for (const { subject, reference, bins } of this.slots()) {
      if (bins.n === 0) continue;
      values.push(
        { subject, statistic: 'psi', value: psi(reference.counts, bins.counts), limits: L.psi },
        { subject, statistic: 'ks', value: ks(reference.counts, bins.counts), limits: L.ks },
        { subject, statistic: 'js', value: jensenShannon(reference.counts, bins.counts), limits: L.js },
        { subject, statistic: 'outOfRange', value: bins.outOfRange / bins.n, limits: L.outOfRange },
      );
    }
    const out = this.profile.outputs;
    if (out.kind === 'classes' && this.classCounts.some((c) => c > 0)) {
      values.push(
        { subject: 'output.classes', statistic: 'chiSquareP', value: chiSquare(out.counts, this.classCounts).pValue, limits: L.chiSquareP },
        { subject: 'output.classes', statistic: 'psi', value: psi(out.counts, this.classCounts), limits: L.psi },
      );
    }
    for (const { subject, charts } of this.charts) {
      const { ewma, cusum } = charts;
      values.push(
        { subject, statistic: 'ewma', value: ewma.signalled ? Math.max(1, ewma.level) : ewma.level, limits: L.chart },
        { subject, statistic: 'cusum', value: cusum.signalled ? Math.max(1, cusum.level) : cusum.level, limits: L.chart },
      );
      ewma.reset();
      if (cusum.signalled) cusum.reset();
    }
    this.reset();
    return values;
  }

  private slots(): Slot[] {
    return [...this.imageSlots, ...this.featureSlots, ...(this.scoreSlot ? [this.scoreSlot] : []), this.top1Slot, this.entropySlot];
  }

  private reset(): void {
    this.n = 0;
    for (const slot of this.slots()) slot.bins = new LiveBins(slot.reference);
    this.classCounts = this.profile.outputs.kind === 'classes' ? new Array<number>(this.profile.outputs.labels.length).fill(0) : [];
  }
}
