import type { SegmentStats } from '../../protocol/feedback.js';
import type { SqliteDatabase } from '../buffer/database.js';

/** Each audit period's statistics per segment, kept in the agent's SQLite file until central has them. */
export class SegmentStatsStore {
  constructor(private readonly db: SqliteDatabase) {}

  /** Stores one period's rows; returns them with their ids. */
  add(rows: ReadonlyArray<Omit<SegmentStats, 'id'>>): SegmentStats[] {
    const insert = this.db.prepare('INSERT INTO segment_stats (model, key, value, started_at, ended_at, body) VALUES (?, ?, ?, ?, ?, ?)');
    return this.db.transaction(() =>
      rows.map((r) => {
        const body = JSON.stringify({ predictions: r.predictions, classes: r.classes, meanConfidence: r.meanConfidence, fallbackShare: r.fallbackShare, labelled: r.labelled, accuracy: r.accuracy });
        const id = Number(insert.run(r.model, r.key, r.value, r.startedAt, r.endedAt, body).lastInsertRowid);
        return { ...r, id };
      }),
    )();
  }

  unsent(limit: number): SegmentStats[] {
    const rows = this.db.prepare('SELECT id, model, key, value, started_at, ended_at, body FROM segment_stats WHERE sent_at IS NULL ORDER BY id LIMIT ?').all(limit) as Array<{ id: number; model: string; key: string; value: string; started_at: number; ended_at: number; body: string }>;
    return rows.map((r) => ({ id: r.id, model: r.model, key: r.key, value: r.value, startedAt: r.started_at, endedAt: r.ended_at, ...(JSON.parse(r.body) as Omit<SegmentStats, 'id' | 'model' | 'key' | 'value' | 'startedAt' | 'endedAt'>) }));
  }

  markSent(ids: readonly number[], at: number): void {
    const mark = this.db.prepare('UPDATE segment_stats SET sent_at = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) mark.run(at, id);
    })();
  }
}
