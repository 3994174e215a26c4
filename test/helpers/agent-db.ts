import Database from 'better-sqlite3';

type Db = Database.Database;

/**
 * Opens the agent's SQLite file read-only for the duration of `fn`: the agent may be
 * running (WAL lets a reader in) or dead after kill -9 (its WAL is read, not replayed into the file).
 */
export function withAgentDb<T>(path: string, fn: (db: Db) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return fn(db);
  } finally {
    db.close();
  }
}

/** `PRAGMA integrity_check` verdict: "ok" or the first problem. */
export function integrityCheck(path: string): string {
  return withAgentDb(path, (db) => String(db.pragma('integrity_check', { simple: true })));
}

export interface OutboxCounts {
  total: number;
  unsent: number;
}

/** Rows no acknowledged run covers, counted with SQL of its own rather than the agent's walk. */
const UNSENT_COUNT = `SELECT count(*) FROM predictions p WHERE NOT EXISTS
  (SELECT 1 FROM predictions_acked a WHERE a.first <= p.seq AND a.last >= p.seq)`;

export function outboxCounts(path: string): OutboxCounts {
  return withAgentDb(path, (db) => ({
    total: db.prepare<[], number>('SELECT count(*) FROM predictions').pluck().get() ?? 0,
    unsent: db.prepare<[], number>(UNSENT_COUNT).pluck().get() ?? 0,
  }));
}

/** frame ids of the outbox rows, committed ones only (what "nothing committed is lost" is about). */
export function committedFrames(path: string): string[] {
  return withAgentDb(path, (db) =>
    db
      .prepare<[], string>("SELECT json_extract(payload, '$.frameId') FROM predictions ORDER BY seq")
      .pluck()
      .all(),
  );
}

export interface Rejection {
  file: string;
  code: string;
  reason: string;
  message: string;
}

/** The `frame_rejected` audit events, oldest first. */
export function rejections(path: string): Rejection[] {
  const rows = withAgentDb(path, (db) =>
    db.prepare<[], { message: string; detail: string | null }>("SELECT message, detail FROM events WHERE kind = 'frame_rejected' ORDER BY id").all(),
  );
  return rows.map((row) => {
    const d = JSON.parse(row.detail ?? '{}') as Partial<Rejection>;
    return { file: String(d.file), code: String(d.code), reason: String(d.reason), message: row.message };
  });
}
