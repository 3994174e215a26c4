import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from '../buffer/database.js';

/** The ground truth an operator or central attached to a prediction. */
export interface PredictionGroundTruth {
  label: string;
  /** Whether the prediction said the same. */
  correct: boolean;
  by: string;
  /** Wall ms it was given. */
  ts: number;
  /** The captured input (samples store id) when the prediction was wrong and its input was still held. */
  sampleId: number | null;
}

/** A label list longer than this is not sent with a prediction: the page offers free text instead. */
export const MAX_LABEL_CHOICES = 100;

/**
 * What the status page needs to show and attach ground truth: the label stored for a
 * prediction (one indexed lookup), and the labels its model knows, from the installed
 * version's manifest or the model's `labels` in the config.
 */
export class PredictionLabels {
  private readonly stored: Statement<[number], { label: string; correct: number; by: string; ts: number; sample_id: number | null }>;
  private readonly manifest: Statement<[string, string], { manifest: string }>;
  private readonly fromManifest = new Map<string, string[] | null>();

  constructor(
    db: SqliteDatabase,
    /** The configured models (image and sensor), with their labels when given inline. */
    private readonly models: ReadonlyArray<{ name: string; labels?: readonly string[] | undefined }>,
  ) {
    this.stored = db.prepare('SELECT label, correct, by, ts, sample_id FROM labels WHERE seq = ?');
    this.manifest = db.prepare('SELECT manifest FROM model_installs WHERE name = ? AND version = ? ORDER BY counter DESC LIMIT 1');
  }

  groundTruth(seq: number): PredictionGroundTruth | null {
    const r = this.stored.get(seq);
    return r ? { label: r.label, correct: r.correct === 1, by: r.by, ts: r.ts, sampleId: r.sample_id } : null;
  }

  /** The labels of `model` at `version`; null when unknown (a labels file, a model without labels) or longer than MAX_LABEL_CHOICES. */
  choices(model: string, version: string): string[] | null {
    const labels = this.installed(model, version) ?? this.models.find((m) => m.name === model)?.labels ?? null;
    if (!labels) return null;
    const distinct = [...new Set(labels.filter((l) => l !== ''))];
    return distinct.length > 0 && distinct.length <= MAX_LABEL_CHOICES ? distinct : null;
  }

  /** A signed manifest's labels, read once per version (an installed manifest does not change). */
  private installed(model: string, version: string): readonly string[] | null {
    const key = `${model}\u0000${version}`;
    let labels = this.fromManifest.get(key);
    if (labels === undefined) {
      labels = null;
      const row = this.manifest.get(model, version);
      if (row) {
        try {
          const payload = (JSON.parse(row.manifest) as { payload?: { labels?: unknown } }).payload;
          if (Array.isArray(payload?.labels) && payload.labels.every((l) => typeof l === 'string')) labels = payload.labels as string[];
        } catch {
          // an unreadable manifest gives no choices; the page offers free text
        }
      }
      // Only a found row is remembered: a version installed later is read then.
      if (row) this.fromManifest.set(key, labels);
    }
    return labels;
  }
}
