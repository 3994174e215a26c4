/** What one segment saw in the running audit period. */
export class SegmentFigures {
  predictions = 0;
  readonly classes = new Map<string, number>();
  confidenceSum = 0;
  fallbacks = 0;
  labelled = 0;
  correct = 0;

  add(label: string, score: number, fallback: boolean): void {
    this.predictions++;
    this.classes.set(label, (this.classes.get(label) ?? 0) + 1);
    if (Number.isFinite(score)) this.confidenceSum += score;
    if (fallback) this.fallbacks++;
  }

  /** Adds `other` into this one (the rest of a model's segments, pooled). */
  merge(other: SegmentFigures): void {
    this.predictions += other.predictions;
    for (const [label, n] of other.classes) this.classes.set(label, (this.classes.get(label) ?? 0) + n);
    this.confidenceSum += other.confidenceSum;
    this.fallbacks += other.fallbacks;
    this.labelled += other.labelled;
    this.correct += other.correct;
  }

  meanConfidence(): number | null {
    return this.predictions === 0 ? null : this.confidenceSum / this.predictions;
  }

  fallbackShare(): number {
    return this.predictions === 0 ? 0 : this.fallbacks / this.predictions;
  }

  accuracy(): number | null {
    return this.labelled === 0 ? null : this.correct / this.labelled;
  }
}

/** Total variation distance between two class mixes: half the sum of the share differences (0 same, 1 disjoint). */
export function classMixDistance(a: SegmentFigures, b: SegmentFigures): number {
  if (a.predictions === 0 || b.predictions === 0) return 0;
  const labels = new Set([...a.classes.keys(), ...b.classes.keys()]);
  let sum = 0;
  for (const l of labels) sum += Math.abs((a.classes.get(l) ?? 0) / a.predictions - (b.classes.get(l) ?? 0) / b.predictions);
  return sum / 2;
}
