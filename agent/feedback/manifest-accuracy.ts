import type { SqliteDatabase } from '../buffer/database.js';

/**
 * The validation accuracy a model version was packed with (`lineage.validation.metrics.accuracy`
 * of its signed manifest), when it came as a bundle that states one. Read defensively: a
 * manifest without lineage or without that metric gives undefined.
 */
export function manifestAccuracy(db: SqliteDatabase, name: string, version: string): number | undefined {
  const row = db.prepare('SELECT manifest FROM model_installs WHERE name = ? AND version = ? ORDER BY counter DESC LIMIT 1').get(name, version) as { manifest: string } | undefined;
  if (!row) return undefined;
  try {
    const envelope = JSON.parse(row.manifest) as { payload?: { lineage?: { validation?: { metrics?: Record<string, unknown> }; metrics?: Record<string, unknown> } } };
    const lineage = envelope.payload?.lineage;
    const accuracy = lineage?.validation?.metrics?.accuracy ?? lineage?.metrics?.accuracy;
    return typeof accuracy === 'number' && accuracy >= 0 && accuracy <= 1 ? accuracy : undefined;
  } catch {
    return undefined;
  }
}
