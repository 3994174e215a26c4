import Database from 'better-sqlite3';
import { AgentError, errorMessage } from '../../agent/errors.js';

/*
 * Ingest's database knows when central last heard from each device (a status or a batch
 * of predictions), which the retained messages do not: a device that stopped sending
 * predictions but whose status was never replaced still looks fine on the broker.
 */

/** When ingest last stored something for each device, from its `devices` table (read-only). */
export function lastSeenFromIngest(file: string): Map<string, { site: string | null; lastSeen: number }> {
  let db: Database.Database;
  try {
    // Read-only and never created: a typo must not leave an empty database behind.
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new AgentError('E_FLEET_DB', `cannot open the ingest database ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    db.pragma('busy_timeout = 2000');
    const rows = db.prepare('SELECT device, site, status_ts, updated_at FROM devices').all() as Array<{ device: string; site: string | null; status_ts: number | null; updated_at: number }>;
    return new Map(rows.map((r) => [r.device, { site: r.site, lastSeen: Math.max(r.updated_at, r.status_ts ?? 0) }]));
  } catch (err) {
    throw new AgentError('E_FLEET_DB', `${file} is not an ingest database (edgectl ingest --db): ${errorMessage(err)}`, { cause: err });
  } finally {
    db.close();
  }
}
