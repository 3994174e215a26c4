import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from '../buffer/database.js';
import type { Judged, Level } from '../drift/judge.js';

/** Points a model's drift chart holds at most, whatever the window rate. */
export const DRIFT_POINTS = 120;

const LEVELS: readonly Level[] = ['ok', 'warn', 'alarm'];

/** One model's drift over the asked span: per time bucket, the worst window's largest PSI and level. */
export interface DriftSeries {
  model: string;
  /** The PSI warn and alarm levels, to draw beside the line. */
  psiWarn: number | null;
  psiAlarm: number | null;
  /** Windows closed in the span (the chart may merge several into one point). */
  windows: number;
  /** Wall ms the window ended (the bucket's worst window). */
  ts: number[];
  /** The largest PSI of that window over its statistics; null when it had none. */
  psi: Array<number | null>;
  /** Its level: ok, warn or alarm. */
  level: Level[];
  /** The statistic with that PSI, e.g. `image.brightness`. */
  subject: Array<string | null>;
}

/**
 * Drift charts from the `drift_windows` table. Windows can close several times a second,
 * so the span is cut into at most DRIFT_POINTS buckets and each keeps its worst window
 * (an alarm is never averaged away); only those windows' statistics are parsed.
 */
export class DriftHistory {
  private readonly buckets: Statement<[string, number, number, number, number], { n: number; pick: number }>;
  private readonly byId: Statement<[number], { ended_at: number; level: string; stats: string }>;
  private readonly first: Statement<[string, number], { t: number | null }>;

  constructor(db: SqliteDatabase) {
    // The picked id carries the level in its high part, so max() takes the worst level first, then the newest window.
    this.buckets = db.prepare<[string, number, number, number, number], { n: number; pick: number }>(
      `SELECT count(*) AS n, max((CASE level WHEN 'alarm' THEN 2 WHEN 'warn' THEN 1 ELSE 0 END) * 1000000000000 + id) AS pick
         FROM drift_windows WHERE model = ? AND ended_at >= ? AND ended_at <= ? GROUP BY CAST((ended_at - ?) / ? AS INTEGER)`,
    );
    this.first = db.prepare<[string, number], { t: number | null }>('SELECT min(ended_at) AS t FROM drift_windows WHERE model = ? AND ended_at >= ?');
    this.byId = db.prepare<[number], { ended_at: number; level: string; stats: string }>('SELECT ended_at, level, stats FROM drift_windows WHERE id = ?');
  }

  /** `model`'s windows that ended from `since` to `until` (wall ms). */
  series(model: string, since: number, until: number, limits: { psiWarn: number | null; psiAlarm: number | null }): DriftSeries {
    const out: DriftSeries = { model, ...limits, windows: 0, ts: [], psi: [], level: [], subject: [] };
    // Buckets span from the first window in range, so a young history is drawn in detail too.
    const start = this.first.get(model, since)?.t;
    if (start == null) return out;
    const bucketMs = Math.ceil((Math.max(until, start) - start + 1) / DRIFT_POINTS);
    const picks = this.buckets.all(model, start, until, start, bucketMs);
    const rows: Array<{ ended_at: number; level: string; stats: string }> = [];
    for (const b of picks) {
      out.windows += b.n;
      const row = this.byId.get(b.pick % 1_000_000_000_000);
      if (row) rows.push(row);
    }
    rows.sort((a, b) => a.ended_at - b.ended_at);
    for (const r of rows) {
      const worst = largestPsi(JSON.parse(r.stats) as Judged[]);
      out.ts.push(r.ended_at);
      out.psi.push(worst ? Math.round(worst.value * 10_000) / 10_000 : null);
      out.subject.push(worst?.subject ?? null);
      out.level.push(LEVELS.includes(r.level as Level) ? (r.level as Level) : 'ok');
    }
    return out;
  }
}

function largestPsi(stats: Judged[]): Judged | undefined {
  let worst: Judged | undefined;
  for (const s of stats) if (s.statistic === 'psi' && Number.isFinite(s.value) && (!worst || s.value > worst.value)) worst = s;
  return worst;
}
