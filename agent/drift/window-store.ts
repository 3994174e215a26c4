import type { SqliteDatabase } from '../buffer/database.js';
import type { Judged, Level } from './judge.js';

/** One closed window as stored and synced. */
export interface StoredWindow {
  id: number;
  model: string;
  modelVersion: string;
  startedAt: number;
  endedAt: number;
  samples: number;
  level: Level;
  stats: Judged[];
}

/**
 * Each window's statistics in the agent's SQLite file (table `drift_windows`): the status
 * page draws its charts from them, and the sync forwards the unsent ones to central.
 */
export class DriftWindowStore {
  constructor(private readonly db: SqliteDatabase) {}

  add(w: Omit<StoredWindow, 'id'>): number {
    const info = this.db
      .prepare('INSERT INTO drift_windows (model, model_version, started_at, ended_at, samples, level, stats) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(w.model, w.modelVersion, w.startedAt, w.endedAt, w.samples, w.level, JSON.stringify(w.stats));
    return Number(info.lastInsertRowid);
  }

  /** Windows of `model` that ended at or after `since` (epoch ms), oldest first. */
  since(model: string, since: number, limit = 500): StoredWindow[] {
    const rows = this.db.prepare('SELECT * FROM drift_windows WHERE model = ? AND ended_at >= ? ORDER BY id DESC LIMIT ?').all(model, since, limit) as Array<Record<string, unknown>>;
    return rows.reverse().map(toWindow);
  }

  unsent(limit: number): StoredWindow[] {
    return (this.db.prepare('SELECT * FROM drift_windows WHERE sent_at IS NULL ORDER BY id LIMIT ?').all(limit) as Array<Record<string, unknown>>).map(toWindow);
  }

  markSent(ids: readonly number[], at: number): void {
    const stmt = this.db.prepare('UPDATE drift_windows SET sent_at = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) stmt.run(at, id);
    })();
  }
}

function toWindow(r: Record<string, unknown>): StoredWindow {
  return {
    id: r.id as number,
    model: r.model as string,
    modelVersion: r.model_version as string,
    startedAt: r.started_at as number,
    endedAt: r.ended_at as number,
    samples: r.samples as number,
    level: r.level as Level,
    stats: JSON.parse(r.stats as string) as Judged[],
  };
}
