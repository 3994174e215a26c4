import { LineageSchema } from '../../protocol/lineage.js';
import type { SqliteDatabase } from '../buffer/database.js';

/**
 * The validation accuracy a model version was packed with (`lineage.validation.metrics.accuracy`
 * of its signed manifest, verified when the bundle was installed), when it came as a bundle
 * that states one; undefined for a manifest without lineage or without that metric.
 */
export function manifestAccuracy(db: SqliteDatabase, name: string, version: string): number | undefined {
  const row = db.prepare('SELECT manifest FROM model_installs WHERE name = ? AND version = ? ORDER BY counter DESC LIMIT 1').get(name, version) as { manifest: string } | undefined;
  if (!row) return undefined;
  let envelope: { payload?: { lineage?: unknown } };
  try {
    envelope = JSON.parse(row.manifest) as { payload?: { lineage?: unknown } };
  } catch {
    return undefined;
  }
  const lineage = LineageSchema.safeParse(envelope.payload?.lineage);
  const accuracy = lineage.success ? lineage.data.validation?.metrics.accuracy : undefined;
  return accuracy !== undefined && accuracy >= 0 && accuracy <= 1 ? accuracy : undefined;
}
