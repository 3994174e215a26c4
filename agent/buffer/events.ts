import type { Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.js';
import type { AgentEvent, EventSink } from '../events.js';
import type { SqliteDatabase } from './database.js';

/** An audit event as stored, with its id and wall time. */
export interface StoredEvent extends AgentEvent {
  id: number;
  ts: number;
}

export interface EventLogOptions {
  db: SqliteDatabase;
  log: Logger;
  clock?: Clock;
}

interface EventRow {
  id: number;
  ts: number;
  level: AgentEvent['level'];
  kind: string;
  source: string | null;
  message: string;
  detail: string | null;
}

/** The audit trail in SQLite: rejections, connectivity, store errors, lifecycle. */
export class EventLog implements EventSink {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly insert: Statement<[number, string, string, string | null, string, string | null]>;
  private readonly newest: Statement<[number], EventRow>;
  private readonly newestOfKind: Statement<[string, number], EventRow>;
  private readonly unsentRows: Statement<[number], EventRow>;
  private readonly markRange: Statement<[number, number, number]>;

  constructor(opts: EventLogOptions) {
    this.log = opts.log.child({ component: 'events' });
    this.clock = opts.clock ?? systemClock;
    this.insert = opts.db.prepare('INSERT INTO events (ts, level, kind, source, message, detail) VALUES (?, ?, ?, ?, ?, ?)');
    this.newest = opts.db.prepare('SELECT * FROM events ORDER BY id DESC LIMIT ?');
    this.newestOfKind = opts.db.prepare('SELECT * FROM events WHERE kind = ? ORDER BY id DESC LIMIT ?');
    this.unsentRows = opts.db.prepare('SELECT id, ts, level, kind, source, message, detail FROM events WHERE sent_at IS NULL ORDER BY id LIMIT ?');
    this.markRange = opts.db.prepare('UPDATE events SET sent_at = ? WHERE id BETWEEN ? AND ? AND sent_at IS NULL');
  }

  /**
   * Never throws: events are often written because something already failed (disk full,
   * closed store), and the caller must not fail a second time for the audit trail.
   */
  record(event: AgentEvent): void {
    try {
      const detail = event.detail === undefined ? null : JSON.stringify(event.detail);
      this.insert.run(this.clock.now(), event.level, event.kind, event.source ?? null, event.message, detail);
    } catch (err) {
      this.log.error({ err, event }, 'could not record an event');
    }
  }

  /** The oldest events not yet forwarded to central, at most `limit`. */
  unsent(limit: number): StoredEvent[] {
    return this.unsentRows.all(limit).map(toEvent);
  }

  /** Records that central's broker acknowledged events firstId..lastId. */
  markSent(firstId: number, lastId: number, at: number): number {
    return this.markRange.run(at, firstId, lastId).changes;
  }

  /** The newest events first, optionally only of one kind. */
  list(opts: { limit?: number; kind?: string } = {}): StoredEvent[] {
    const limit = opts.limit ?? 100;
    const rows = opts.kind === undefined ? this.newest.all(limit) : this.newestOfKind.all(opts.kind, limit);
    return rows.map(toEvent);
  }
}

function toEvent(row: EventRow): StoredEvent {
  const event: StoredEvent = { id: row.id, ts: row.ts, level: row.level, kind: row.kind, message: row.message };
  if (row.source !== null) event.source = row.source;
  if (row.detail !== null) event.detail = JSON.parse(row.detail) as Record<string, unknown>;
  return event;
}
