import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AgentError, errorMessage } from '../errors.js';

export type SqliteDatabase = Database.Database;

/** One schema step; runs inside a transaction together with the `user_version` bump. */
export type Migration = (db: SqliteDatabase) => void;

/*
 * Append only: a migration that shipped is never edited, because gateways in the field
 * already ran it. `PRAGMA user_version` holds how many of these a file has seen.
 */
export const MIGRATIONS: readonly Migration[] = [
  (db) => {
    // AUTOINCREMENT (not plain rowid) so a sequence number is never reused after rows
    // are pruned: central de-duplicates by (device, seq) and would drop a reused one.
    db.exec(`
      CREATE TABLE predictions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        source TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        label TEXT NOT NULL,
        score REAL NOT NULL,
        payload TEXT NOT NULL,
        sent_at INTEGER
      );
      CREATE INDEX predictions_unsent ON predictions (seq) WHERE sent_at IS NULL;
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        level TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT,
        message TEXT NOT NULL,
        detail TEXT
      );
      CREATE INDEX events_kind ON events (kind, id);
    `);
  },
  (db) => {
    // Model rollout: what is installed, what serves, the job in progress, and the highest
    // signed counters accepted (a replayed older manifest or desired state is refused).
    db.exec(`
      CREATE TABLE model_installs (
        name TEXT NOT NULL,
        counter INTEGER NOT NULL,
        version TEXT NOT NULL,
        dir TEXT NOT NULL,
        manifest TEXT NOT NULL,
        installed_at INTEGER NOT NULL,
        PRIMARY KEY (name, counter)
      );
      CREATE TABLE model_serving (
        name TEXT PRIMARY KEY,
        counter INTEGER NOT NULL,
        previous_counter INTEGER,
        state TEXT NOT NULL,
        since INTEGER NOT NULL
      );
      CREATE TABLE rollout_job (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        counter INTEGER NOT NULL,
        version TEXT NOT NULL,
        step TEXT NOT NULL,
        manifest TEXT NOT NULL,
        desired_counter INTEGER,
        rollout_id TEXT,
        started_at INTEGER NOT NULL,
        step_at INTEGER NOT NULL
      );
      CREATE TABLE signed_counters (
        key TEXT PRIMARY KEY,
        counter INTEGER NOT NULL,
        version TEXT
      );
      CREATE TABLE failed_models (
        name TEXT NOT NULL,
        counter INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (name, counter)
      );
    `);
  },
  (db) => {
    // The serving model's mean confidence seen during shadow: probation judges a collapse
    // against it, also when it resumes after a restart.
    db.exec('ALTER TABLE rollout_job ADD COLUMN baseline_confidence REAL');
  },
  (db) => {
    // Quotas: `keep` is a prediction's eviction class (0 plain, 1 flagged, 2 explained),
    // events get a `sent_at` so they are forwarded to central like predictions, and
    // captured samples get their own table with their own budget.
    db.exec(`
      ALTER TABLE predictions ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE events ADD COLUMN sent_at INTEGER;
      CREATE INDEX events_unsent ON events (id) WHERE sent_at IS NULL;
      CREATE TABLE samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        source TEXT NOT NULL,
        frame_id TEXT NOT NULL,
        seq INTEGER,
        media_type TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        data BLOB NOT NULL,
        sent_at INTEGER
      );
    `);
  },
  (db) => {
    // Drift: every judged window of every model, kept for the status page's charts and
    // forwarded to central (sent_at) in the health stream.
    db.exec(`
      CREATE TABLE drift_windows (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        level TEXT NOT NULL,
        stats TEXT NOT NULL,
        sent_at INTEGER
      );
      CREATE INDEX drift_windows_model ON drift_windows (model, ended_at);
      CREATE INDEX drift_windows_unsent ON drift_windows (id) WHERE sent_at IS NULL;
    `);
  },
  (db) => {
    // Explanations, one per explained prediction, written after the prediction (they are
    // computed at lower priority) and sent to central on their own topic. They go with
    // their prediction when it is evicted or pruned.
    db.exec(`
      CREATE TABLE explanations (
        seq INTEGER PRIMARY KEY REFERENCES predictions (seq) ON DELETE CASCADE,
        ts INTEGER NOT NULL,
        model TEXT NOT NULL,
        method TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER
      );
      CREATE INDEX explanations_unsent ON explanations (seq) WHERE sent_at IS NULL;
    `);
  },
  (db) => {
    // Why a sample was captured (low-confidence, drift-alarm, shadow-disagreement, operator,
    // ...), so whoever labels it knows what to look for.
    db.exec('ALTER TABLE samples ADD COLUMN reason TEXT');
  },
  (db) => {
    // Small counters the sync must carry across restarts, such as the Sparkplug B bdSeq of
    // the last CONNECT: a restarted node continues from it instead of starting over at 0.
    db.exec('CREATE TABLE sync_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)');
  },
  (db) => {
    // Fail-safes, ground truth and segment audits: which step of the model's fail-safe
    // chain made a prediction (read from its payload, so the write path is unchanged),
    // labels given to predictions by operators and central, and each audit period's
    // statistics per segment; labels and segment statistics are forwarded (sent_at).
    db.exec(`
      ALTER TABLE predictions ADD COLUMN step TEXT GENERATED ALWAYS AS (coalesce(json_extract(payload, '$.step'), 'model')) VIRTUAL;
      CREATE TABLE labels (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        source TEXT NOT NULL,
        predicted TEXT NOT NULL,
        label TEXT NOT NULL,
        correct INTEGER NOT NULL,
        by TEXT NOT NULL,
        sample_id INTEGER,
        sent_at INTEGER
      );
      CREATE INDEX labels_unsent ON labels (seq) WHERE sent_at IS NULL;
      CREATE TABLE segment_stats (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER
      );
      CREATE INDEX segment_stats_unsent ON segment_stats (id) WHERE sent_at IS NULL;
    `);
  },
  (db) => {
    // Acks as runs of consecutive sequence numbers instead of a sent_at on every row: a
    // drained batch becomes one small row here, where marking its rows rewrote every page
    // they sit on. Existing marks become runs; the column and its index go, so the runs
    // are the only record of what was acknowledged. Payloads now carry their seq, so a
    // batch is its rows joined as stored: the rows still to be sent get theirs here.
    db.exec(`
      UPDATE predictions SET payload = '{"seq":' || seq || CASE WHEN payload = '{}' THEN '}' ELSE ',' || substr(payload, 2) END
       WHERE sent_at IS NULL;
      CREATE TABLE predictions_acked (
        first INTEGER PRIMARY KEY,
        last INTEGER NOT NULL,
        since INTEGER NOT NULL,
        at INTEGER NOT NULL
      );
      INSERT INTO predictions_acked (first, last, since, at)
        SELECT min(seq), max(seq), min(sent_at), max(sent_at)
          FROM (SELECT seq, sent_at, seq - row_number() OVER (ORDER BY seq) AS run FROM predictions WHERE sent_at IS NOT NULL)
         GROUP BY run;
      DROP INDEX predictions_unsent;
      ALTER TABLE predictions DROP COLUMN sent_at;
    `);
  },
];

export interface OpenDatabaseOptions {
  /** File path, or `:memory:` for tests that do not care about durability. */
  path: string;
  busyTimeoutMs: number;
  migrations?: readonly Migration[];
}

/** Page cache per connection, KiB. */
const PAGE_CACHE_KIB = 2048;

/**
 * Opens (creating if needed) the agent's SQLite file and brings its schema up to date.
 * WAL lets the sync read while the hot path writes; synchronous=FULL makes a returned
 * commit survive power loss, which is what "nothing committed is lost" promises.
 */
export function openDatabase(opts: OpenDatabaseOptions): SqliteDatabase {
  let db: SqliteDatabase | undefined;
  try {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    db = new Database(opts.path);
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs)}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // After a checkpoint, a WAL grown by a burst is cut back to this size instead of staying big.
    db.pragma('journal_size_limit = 67108864');
    db.pragma('foreign_keys = ON');
    // better-sqlite3 builds SQLite with a 16 MiB page cache per connection, which fills as the
    // file grows, and RSS climbs with it. The outbox touches the ends of its tables, not the
    // whole file; SQLite's own default of about 2 MiB holds that.
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    migrate(db, opts.migrations ?? MIGRATIONS);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof AgentError) throw err;
    throw new AgentError('E_STORE_OPEN', `cannot open the store at ${opts.path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** How many migrations the file has applied. */
export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const current = schemaVersion(db);
  if (current > migrations.length) {
    // A newer agent wrote this file; running older code on it could corrupt meaning silently.
    throw new AgentError('E_STORE_SCHEMA', `store schema version ${current} is newer than this agent supports (${migrations.length})`);
  }
  for (let v = current; v < migrations.length; v++) {
    const step = migrations[v];
    if (!step) continue;
    db.transaction(() => {
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
