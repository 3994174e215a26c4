import type { ReferenceProfile } from '../../protocol/reference-profile.js';
import { IMAGE_STATS } from '../../protocol/reference-profile.js';
import { buildHistogram } from './histogram.js';
import type { ImageStats } from './image-stats.js';

/** Most background rows kept for Shapley values. */
const BACKGROUND_ROWS = 100;

/**
 * Collects what the model saw and said on reference data and turns it into a reference
 * profile: quantile histograms of every image statistic or feature, the class frequencies
 * (or a score histogram), and the confidence. `edgectl pack --reference` and
 * `edgectl profile` use it with the agent's own preprocessing and model code.
 */
export class ProfileBuilder {
  private readonly image = new Map<keyof ImageStats, number[]>();
  private readonly features = new Map<string, number[]>();
  private readonly background: number[][] = [];
  private readonly classCounts: number[] | undefined;
  private readonly scores: number[] = [];
  private readonly top1: number[] = [];
  private readonly entropy: number[] = [];
  private n = 0;

  constructor(private readonly opts: { labels?: readonly string[]; bins?: number }) {
    this.classCounts = opts.labels ? new Array<number>(opts.labels.length).fill(0) : undefined;
  }

  add(s: { image?: ImageStats; features?: Readonly<Record<string, number>>; label?: string; score?: number; top1: number; entropy: number }): void {
    this.n++;
    if (s.image) for (const stat of IMAGE_STATS) push(this.image, stat, s.image[stat]);
    if (s.features) {
      for (const [k, v] of Object.entries(s.features)) if (Number.isFinite(v)) push(this.features, k, v);
      if (this.background.length < BACKGROUND_ROWS) this.background.push(Object.values(s.features));
    }
    if (this.classCounts && s.label !== undefined) {
      const i = this.opts.labels!.indexOf(s.label);
      if (i >= 0) this.classCounts[i]!++;
    }
    if (s.score !== undefined) this.scores.push(s.score);
    this.top1.push(s.top1);
    this.entropy.push(s.entropy);
  }

  build(): ReferenceProfile {
    if (this.n === 0) throw new RangeError('no reference samples');
    const bins = this.opts.bins ?? 10;
    const hist = (m: Map<string, number[]>) => Object.fromEntries([...m].filter(([, v]) => v.length > 0).map(([k, v]) => [k, buildHistogram(v, bins)]));
    const outputs: ReferenceProfile['outputs'] = this.classCounts
      ? { kind: 'classes', labels: [...this.opts.labels!], counts: this.classCounts }
      : { kind: 'scores', histogram: buildHistogram(this.scores.length > 0 ? this.scores : this.top1, bins) };
    return {
      v: 1,
      samples: this.n,
      ...(this.image.size > 0 ? { image: hist(this.image) } : {}),
      ...(this.features.size > 0 ? { features: hist(this.features), background: this.background } : {}),
      outputs,
      confidence: { top1: buildHistogram(this.top1, bins), entropy: buildHistogram(this.entropy, bins) },
    };
  }
}

function push<K>(m: Map<K, number[]>, k: K, v: number): void {
  let list = m.get(k);
  if (!list) m.set(k, (list = []));
  list.push(v);
}
