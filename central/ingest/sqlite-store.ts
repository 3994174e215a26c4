import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { PredictionBatch } from '../../protocol/predictions.js';
import type { DeviceStatus } from '../../protocol/status.js';
import type { LabelBatch, SegmentStatsBatch } from '../../protocol/feedback.js';
import type { DriftWindowBatch, EventBatch, ExplanationBatch, HealthReport, SampleMessage } from '../../protocol/telemetry.js';
import type { DeviceRow, IngestStore, IngestTable } from './store.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS predictions (
    device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, frame_id TEXT NOT NULL,
    model TEXT NOT NULL, model_version TEXT NOT NULL, label TEXT NOT NULL, score REAL NOT NULL,
    top_k TEXT NOT NULL, latency_ms REAL NOT NULL, batch_id TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, device TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    received_at INTEGER NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY, site TEXT, state TEXT, status_ts INTEGER, agent_version TEXT,
    last_seq INTEGER, updated_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS events (
    device TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL, level TEXT NOT NULL, kind TEXT NOT NULL,
    source TEXT, message TEXT NOT NULL, detail TEXT, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS health (
    device TEXT NOT NULL, ts INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL, outbox_pending INTEGER NOT NULL,
    oldest_pending_age_s REAL, store_bytes INTEGER, store_quota_bytes INTEGER, evictions TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, ts)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS explanations (
    device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, model TEXT NOT NULL, method TEXT NOT NULL,
    "values" TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS samples (
    device TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL, source TEXT NOT NULL, frame_id TEXT NOT NULL,
    seq INTEGER, media_type TEXT NOT NULL, data BLOB NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS drift_windows (
    device TEXT NOT NULL, id INTEGER NOT NULL, model TEXT NOT NULL, model_version TEXT NOT NULL, started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL, samples INTEGER NOT NULL, level TEXT NOT NULL, stats TEXT NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, id)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS labels (
    device TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, model TEXT NOT NULL, model_version TEXT NOT NULL,
    source TEXT NOT NULL, predicted TEXT NOT NULL, label TEXT NOT NULL, correct INTEGER NOT NULL, by TEXT NOT NULL,
    sample_id INTEGER, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS segment_stats (
    device TEXT NOT NULL, id INTEGER NOT NULL, model TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, predictions INTEGER NOT NULL, classes TEXT NOT NULL,
    mean_confidence REAL, fallback_share REAL NOT NULL, labelled INTEGER NOT NULL, accuracy REAL, received_at INTEGER NOT NULL,
    PRIMARY KEY (device, id)
  ) WITHOUT ROWID;
`;

/** Ingest into one SQLite file (WAL, synchronous=FULL: an ack means the row is on disk). */
export class SqliteIngestStore implements IngestStore {
  readonly kind = 'sqlite';
  readonly db: Database.Database;
  private readonly batch: (b: PredictionBatch, at: number) => number;
  private readonly events: (b: EventBatch, at: number) => number;
  private readonly explanations: (b: ExplanationBatch, at: number) => number;
  private readonly driftWindows: (b: DriftWindowBatch, at: number) => number;
  private readonly labels: (b: LabelBatch, at: number) => number;
  private readonly segments: (b: SegmentStatsBatch, at: number) => number;
  private readonly health: Database.Statement;
  private readonly sample: Database.Statement;
  private readonly status: Database.Statement;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Databases made before samples recorded why they were captured gain the column.
    const sampleColumns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('samples')").all();
    if (!sampleColumns.some((c) => c.name === 'reason')) this.db.exec('ALTER TABLE samples ADD COLUMN reason TEXT');
    // Likewise for the fail-safe step that produced each prediction.
    const predictionColumns = this.db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('predictions')").all();
    if (!predictionColumns.some((c) => c.name === 'step')) this.db.exec('ALTER TABLE predictions ADD COLUMN step TEXT; ALTER TABLE predictions ADD COLUMN fallback_reason TEXT');
    const db = this.db;
    const insertBatch = db.prepare(
      `INSERT INTO batches (batch_id, device, first, last, received_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (batch_id) DO UPDATE SET duplicates = duplicates + 1`,
    );
    const insertPrediction = db.prepare(
      `INSERT OR IGNORE INTO predictions (device, seq, ts, source, frame_id, model, model_version, label, score, top_k, latency_ms, batch_id, received_at, step, fallback_reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const touchDevice = db.prepare(
      `INSERT INTO devices (device, last_seq, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET last_seq = max(coalesce(last_seq, 0), excluded.last_seq), updated_at = excluded.updated_at`,
    );
    this.batch = db.transaction((b: PredictionBatch, at: number) => {
      insertBatch.run(b.batchId, b.device, b.first, b.last, at);
      let fresh = 0;
      for (const p of b.predictions) {
        fresh += insertPrediction.run(b.device, p.seq, p.ts, p.source, p.frameId, p.model, p.modelVersion, p.label, p.score, JSON.stringify(p.topK), p.latencyMs, b.batchId, at, p.step ?? 'model', p.fallbackReason ?? null).changes;
      }
      touchDevice.run(b.device, b.last, at);
      return fresh;
    });
    const insertEvent = db.prepare('INSERT OR IGNORE INTO events (device, id, ts, level, kind, source, message, detail, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.events = db.transaction((b: EventBatch, at: number) => {
      let fresh = 0;
      for (const e of b.events) fresh += insertEvent.run(b.device, e.id, e.ts, e.level, e.kind, e.source ?? null, e.message, e.detail ? JSON.stringify(e.detail) : null, at).changes;
      return fresh;
    });
    const insertExplanation = db.prepare('INSERT OR IGNORE INTO explanations (device, seq, ts, model, method, "values", received_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.explanations = db.transaction((b: ExplanationBatch, at: number) => {
      let fresh = 0;
      for (const e of b.explanations) fresh += insertExplanation.run(b.device, e.seq, e.ts, e.model, e.method, JSON.stringify(e.values ?? null), at).changes;
      return fresh;
    });
    const insertWindow = db.prepare(
      `INSERT OR IGNORE INTO drift_windows (device, id, model, model_version, started_at, ended_at, samples, level, stats, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.driftWindows = db.transaction((b: DriftWindowBatch, at: number) => {
      let fresh = 0;
      for (const w of b.windows) fresh += insertWindow.run(b.device, w.id, w.model, w.modelVersion, w.startedAt, w.endedAt, w.samples, w.level, JSON.stringify(w.stats), at).changes;
      return fresh;
    });
    const upsertLabel = db.prepare(
      `INSERT INTO labels (device, seq, ts, model, model_version, source, predicted, label, correct, by, sample_id, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device, seq) DO UPDATE SET ts = excluded.ts, label = excluded.label, correct = excluded.correct, by = excluded.by,
         sample_id = coalesce(excluded.sample_id, labels.sample_id), received_at = excluded.received_at
       WHERE excluded.ts >= labels.ts AND (excluded.label <> labels.label OR excluded.by <> labels.by)`,
    );
    this.labels = db.transaction((b: LabelBatch, at: number) => {
      let fresh = 0;
      for (const l of b.labels) fresh += upsertLabel.run(b.device, l.seq, l.ts, l.model, l.modelVersion, l.source, l.predicted, l.label, l.correct ? 1 : 0, l.by, l.sampleId ?? null, at).changes;
      return fresh;
    });
    const insertSegment = db.prepare(
      `INSERT OR IGNORE INTO segment_stats (device, id, model, key, value, started_at, ended_at, predictions, classes, mean_confidence, fallback_share, labelled, accuracy, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.segments = db.transaction((b: SegmentStatsBatch, at: number) => {
      let fresh = 0;
      for (const s of b.segments) fresh += insertSegment.run(b.device, s.id, s.model, s.key, s.value, s.startedAt, s.endedAt, s.predictions, JSON.stringify(s.classes), s.meanConfidence, s.fallbackShare, s.labelled, s.accuracy, at).changes;
      return fresh;
    });
    this.health = db.prepare(
      `INSERT OR IGNORE INTO health (device, ts, state, reason, outbox_pending, oldest_pending_age_s, store_bytes, store_quota_bytes, evictions, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.sample = db.prepare('INSERT OR IGNORE INTO samples (device, id, ts, source, frame_id, seq, media_type, data, received_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.status = db.prepare(
      `INSERT INTO devices (device, site, state, status_ts, agent_version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET site = excluded.site, state = excluded.state, status_ts = excluded.status_ts,
         agent_version = excluded.agent_version, updated_at = excluded.updated_at`,
    );
  }

  async storeBatch(batch: PredictionBatch, at: number): Promise<number> {
    return this.batch(batch, at);
  }

  async storeEvents(batch: EventBatch, at: number): Promise<number> {
    return this.events(batch, at);
  }

  async storeHealth(h: HealthReport, at: number): Promise<number> {
    return this.health.run(h.device, h.ts, h.state, h.reason, h.outboxPending, h.oldestPendingAgeS, h.storeBytes, h.storeQuotaBytes, JSON.stringify(h.evictions), at).changes;
  }

  async storeExplanations(batch: ExplanationBatch, at: number): Promise<number> {
    return this.explanations(batch, at);
  }

  async storeSample(s: SampleMessage, data: Buffer, at: number): Promise<number> {
    return this.sample.run(s.device, s.id, s.ts, s.source, s.frameId, s.seq ?? null, s.mediaType, data, at, s.reason ?? null).changes;
  }

  async storeDriftWindows(batch: DriftWindowBatch, at: number): Promise<number> {
    return this.driftWindows(batch, at);
  }

  async storeLabels(batch: LabelBatch, at: number): Promise<number> {
    return this.labels(batch, at);
  }

  async storeSegments(batch: SegmentStatsBatch, at: number): Promise<number> {
    return this.segments(batch, at);
  }

  async storeStatus(device: string, s: DeviceStatus, at: number): Promise<void> {
    this.status.run(device, s.site ?? null, s.state, s.ts, s.agentVersion ?? null, at);
  }

  async count(table: IngestTable, device?: string): Promise<number> {
    return this.countNow(table, device);
  }

  /** Synchronous count, for callers that poll. */
  countNow(table: IngestTable, device?: string): number {
    const where = device === undefined ? '' : ' WHERE device = ?';
    const stmt = this.db.prepare<unknown[], number>(`SELECT count(*) FROM ${table}${where}`).pluck();
    return (device === undefined ? stmt.get() : stmt.get(device)) ?? 0;
  }

  async device(id: string): Promise<DeviceRow | undefined> {
    return this.deviceNow(id);
  }

  deviceNow(id: string): DeviceRow | undefined {
    return this.db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE device = ?').get(id);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
