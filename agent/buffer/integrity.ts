import { existsSync, renameSync } from 'node:fs';
import { AgentError, errorMessage } from '../errors.js';
import { openDatabase, type OpenDatabaseOptions, type SqliteDatabase } from './database.js';

/** A store file that failed its check and was moved aside so the agent could start afresh. */
export interface Quarantine {
  /** Where the damaged file now lies (its -wal and -shm beside it). */
  movedTo: string;
  reason: string;
}

export interface CheckedDatabase {
  db: SqliteDatabase;
  quarantined?: Quarantine;
}

const CORRUPT_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB']);

/**
 * Opens the store and runs `PRAGMA quick_check`. A damaged file is renamed (never deleted:
 * an operator may still recover rows from it) and a fresh one is created, so a corrupt
 * file costs one start with a report instead of a crash loop that buffers nothing.
 */
export function openCheckedDatabase(opts: OpenDatabaseOptions, now: () => number = Date.now): CheckedDatabase {
  if (opts.path === ':memory:') return { db: openDatabase(opts) };
  let reason: string;
  try {
    const db = openDatabase(opts);
    const verdict = quickCheck(db);
    if (verdict === 'ok') return { db };
    db.close();
    reason = `quick_check: ${verdict}`;
  } catch (err) {
    if (!isCorruption(err)) throw err;
    reason = errorMessage(err);
  }
  const movedTo = `${opts.path}.corrupt-${now()}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(opts.path + suffix)) renameSync(opts.path + suffix, movedTo + suffix);
  }
  return { db: openDatabase(opts), quarantined: { movedTo, reason } };
}

/** `PRAGMA quick_check`'s verdict: "ok" or its first lines. */
export function quickCheck(db: SqliteDatabase): string {
  const rows = db.pragma('quick_check(5)', { simple: false }) as Array<{ quick_check: string }>;
  const lines = rows.map((r) => r.quick_check);
  return lines.length === 1 && lines[0] === 'ok' ? 'ok' : lines.join('; ');
}

function isCorruption(err: unknown): boolean {
  const cause = err instanceof AgentError ? (err.cause as { code?: unknown } | undefined) : (err as { code?: unknown });
  const code = typeof cause?.code === 'string' ? cause.code : '';
  if (CORRUPT_CODES.has(code)) return true;
  return /malformed|not a database|file is encrypted/i.test(errorMessage(err));
}
