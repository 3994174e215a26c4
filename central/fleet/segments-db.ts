import Database from 'better-sqlite3';
import { AgentError, errorMessage } from '../../agent/errors.js';

/** One segment of one model at one site, summed over the devices and audit periods asked for. */
export interface SegmentRow {
  model: string;
  site: string;
  key: string;
  value: string;
  devices: number;
  predictions: number;
  /** Share of predictions per label. */
  classes: Record<string, number>;
  meanConfidence: number | null;
  fallbackShare: number;
  labelled: number;
  accuracy: number | null;
}

/**
 * Per-segment statistics the devices sent (ingest's `segment_stats`), with each device's
 * site, summed per (model, site, key, value) over the periods that ended after `since`:
 * shares and means weighted by predictions, accuracy by labels.
 */
export function segmentsFromIngest(file: string, since: number): SegmentRow[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new AgentError('E_FLEET_DB', `cannot open the ingest database ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    db.pragma('busy_timeout = 2000');
    const rows = db
      .prepare(
        `SELECT s.device, coalesce(d.site, '?') AS site, s.model, s.key, s.value, s.predictions, s.classes, s.mean_confidence, s.fallback_share, s.labelled, s.accuracy
         FROM segment_stats s LEFT JOIN devices d ON d.device = s.device WHERE s.ended_at >= ? ORDER BY s.model, site, s.key, s.value`,
      )
      .all(since) as Array<{ device: string; site: string; model: string; key: string; value: string; predictions: number; classes: string; mean_confidence: number | null; fallback_share: number; labelled: number; accuracy: number | null }>;
    const sums = new Map<string, { row: SegmentRow; devices: Set<string>; counts: Map<string, number>; confidence: number; confidenceN: number; fallbacks: number; correct: number }>();
    for (const r of rows) {
      const id = JSON.stringify([r.model, r.site, r.key, r.value]);
      let s = sums.get(id);
      if (!s) {
        s = { row: { model: r.model, site: r.site, key: r.key, value: r.value, devices: 0, predictions: 0, classes: {}, meanConfidence: null, fallbackShare: 0, labelled: 0, accuracy: null }, devices: new Set(), counts: new Map(), confidence: 0, confidenceN: 0, fallbacks: 0, correct: 0 };
        sums.set(id, s);
      }
      s.devices.add(r.device);
      s.row.predictions += r.predictions;
      for (const [label, n] of Object.entries(JSON.parse(r.classes) as Record<string, number>)) s.counts.set(label, (s.counts.get(label) ?? 0) + n);
      if (r.mean_confidence !== null) {
        s.confidence += r.mean_confidence * r.predictions;
        s.confidenceN += r.predictions;
      }
      s.fallbacks += r.fallback_share * r.predictions;
      s.row.labelled += r.labelled;
      if (r.accuracy !== null) s.correct += r.accuracy * r.labelled;
    }
    return [...sums.values()].map((s) => {
      const n = s.row.predictions;
      return {
        ...s.row,
        devices: s.devices.size,
        classes: Object.fromEntries([...s.counts].map(([label, c]) => [label, n > 0 ? round(c / n) : 0])),
        meanConfidence: s.confidenceN > 0 ? round(s.confidence / s.confidenceN) : null,
        fallbackShare: n > 0 ? round(s.fallbacks / n) : 0,
        accuracy: s.row.labelled > 0 ? round(s.correct / s.row.labelled) : null,
      };
    });
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError('E_FLEET_DB', `${file} has no segment statistics table (edgectl ingest --db, from this version on): ${errorMessage(err)}`, { cause: err });
  } finally {
    db.close();
  }
}

function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
