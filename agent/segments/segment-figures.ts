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
