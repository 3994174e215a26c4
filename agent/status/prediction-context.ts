import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from '../buffer/database.js';
import type { Judged, Level } from '../drift/judge.js';

/** The drift window a prediction was judged in: its level and what moved most. */
export interface PredictionDrift {
  level: Level;
  /** Wall ms the window started and ended. */
  windowStartedAt: number;
  windowEndedAt: number;
  samples: number;
  /** The largest PSI of the window and the statistic it belongs to; null when none was measured. */
  psi: number | null;
  subject: string | null;
  /** The statistics not at ok in that window, worst first, at most five, e.g. "image.brightness psi 0.41 (alarm)". */
  findings: string[];
}

/** The input kept for a prediction (a capture for retraining); the page shows it as a thumbnail. */
export interface PredictionThumbnail {
  url: string;
  mediaType: string;
  bytes: number;
  /** Why it was kept: `low-confidence`, `drift-alarm`, `operator`, ... */
  reason: string | null;
}

/** Image types the page may show; anything else stays in the samples store for central. */
const SHOWN = new Set(['image/jpeg', 'image/png', 'image/webp']);
/** A frame's timestamp may be a little older than the moment the drift window counted it. */
const SLACK_MS = 1000;
const FINDINGS = 5;

/**
 * What the status page shows beside one prediction: its drift window from `drift_windows`
 * and its captured input from `samples`. Read-only, one indexed lookup each.
 */
export class PredictionContext {
  private readonly window: Statement<[string, number], { started_at: number; ended_at: number; samples: number; level: string; stats: string }>;
  private readonly sample: Statement<[number], { media_type: string; bytes: number; reason: string | null }>;
  private readonly data: Statement<[number], { media_type: string; data: Buffer }>;

  constructor(db: SqliteDatabase) {
    this.window = db.prepare('SELECT started_at, ended_at, samples, level, stats FROM drift_windows WHERE model = ? AND ended_at >= ? ORDER BY ended_at LIMIT 1');
    this.sample = db.prepare('SELECT media_type, bytes, reason FROM samples WHERE seq = ? ORDER BY id DESC LIMIT 1');
    this.data = db.prepare('SELECT media_type, data FROM samples WHERE seq = ? ORDER BY id DESC LIMIT 1');
  }

  /** The first window of `model` that closed at or after `ts` and had started by then; null while it is still open. */
  drift(model: string, ts: number): PredictionDrift | null {
    // One index seek; a window that started after the prediction (none covers it) is checked here, not scanned for.
    const w = this.window.get(model, ts);
    if (!w || w.started_at > ts + SLACK_MS) return null;
    const stats = JSON.parse(w.stats) as Judged[];
    let worst: Judged | undefined;
    for (const s of stats) if (s.statistic === 'psi' && Number.isFinite(s.value) && (!worst || s.value > worst.value)) worst = s;
    const rank = (l: Level) => (l === 'alarm' ? 2 : l === 'warn' ? 1 : 0);
    const findings = stats
      .filter((s) => s.level !== 'ok')
      .sort((a, b) => rank(b.level) - rank(a.level))
      .slice(0, FINDINGS)
      .map((s) => `${s.subject} ${s.statistic} ${round(s.value)} (${s.level})`);
    return {
      level: (['ok', 'warn', 'alarm'] as const).find((l) => l === w.level) ?? 'ok',
      windowStartedAt: w.started_at,
      windowEndedAt: w.ended_at,
      samples: w.samples,
      psi: worst ? round(worst.value) : null,
      subject: worst?.subject ?? null,
      findings,
    };
  }

  /** The captured input of prediction `seq`, when it is an image the page can show. */
  thumbnail(seq: number): PredictionThumbnail | null {
    const s = this.sample.get(seq);
    if (!s || !SHOWN.has(s.media_type)) return null;
    return { url: `/api/predictions/${seq}/input`, mediaType: s.media_type, bytes: s.bytes, reason: s.reason };
  }

  /** The image bytes behind `thumbnail(seq).url`. */
  input(seq: number): { mediaType: string; data: Buffer } | undefined {
    const s = this.data.get(seq);
    return s && SHOWN.has(s.media_type) ? { mediaType: s.media_type, data: s.data } : undefined;
  }
}

function round(v: number): number {
  return Math.round(v * 10_000) / 10_000;
}
