import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { SqliteDatabase } from './database.js';

/** What the connection checkpoints at by itself: SQLite's default, 1,000 pages of WAL. */
const WAL_PAGES = 1000;
/**
 * How often the thread folds the WAL back: a second of commits (and captured samples) is a
 * WAL of a few megabytes at most, and a checkpoint with nothing new to copy costs nothing.
 */
const EVERY_MS = 1000;

export interface CheckpointerOptions {
  /** The connection that commits predictions; its automatic checkpoints are turned off while the thread runs. */
  db: SqliteDatabase;
  busyTimeoutMs: number;
  log: Logger;
}

/*
 * The thread's body, plain JavaScript: it needs better-sqlite3 and nothing of the agent's.
 * PASSIVE never waits for readers or the writer; a checkpoint it could not finish is
 * finished by the next one.
 */
const BODY = `
const { parentPort, workerData: w } = require('node:worker_threads');
const Database = require(w.sqlite);
const db = new Database(w.path, { fileMustExist: true });
db.pragma('busy_timeout = ' + w.busyTimeoutMs);
db.pragma('synchronous = FULL');
db.pragma('wal_autocheckpoint = 0');
// Checkpoints copy WAL frames to the file; a page cache would only hold memory.
db.pragma('cache_size = -64');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
}, w.everyMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/**
 * Folds the WAL back into the database file on a thread of its own, so the commit that
 * crosses SQLite's checkpoint threshold no longer copies megabytes and fsyncs the file on
 * the event loop (measured: 10-40 ms inside a prediction's commit, the tail of the
 * camera's latency). Should the thread stop, the connection checkpoints by itself again.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private closed = false;

  constructor(private readonly o: CheckpointerOptions) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(BODY, {
      eval: true,
      workerData: { sqlite, path: o.db.name, busyTimeoutMs: o.busyTimeoutMs, everyMs: EVERY_MS },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
    this.worker.unref();
    o.db.pragma('wal_autocheckpoint = 0');
    this.worker.on('message', (m: { error?: string }) => {
      if (m.error) o.log.warn({ error: m.error }, 'WAL checkpoint failed; the next one or the next open replays it');
    });
    this.worker.on('error', (err) => this.fallBack(err));
    this.worker.on('exit', (code) => this.fallBack(new Error(`the checkpoint thread exited with code ${code}`)));
  }

  /** Ends the thread; the connection checkpoints by itself again. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Held (ref) while it closes: a stop awaited at the end of a process must see it through.
    this.worker.ref();
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage('close');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
    this.restore();
  }

  private fallBack(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.o.log.warn({ err }, 'the checkpoint thread stopped; the store checkpoints on commit again');
    this.restore();
  }

  private restore(): void {
    if (this.o.db.open) this.o.db.pragma(`wal_autocheckpoint = ${WAL_PAGES}`);
  }
}
