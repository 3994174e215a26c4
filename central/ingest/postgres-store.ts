import pg from 'pg';
import type { PredictionBatch } from '../../protocol/predictions.js';
import type { DeviceStatus } from '../../protocol/status.js';
import type { LabelBatch, SegmentStatsBatch } from '../../protocol/feedback.js';
import type { DriftWindowBatch, EventBatch, ExplanationBatch, HealthReport, SampleMessage } from '../../protocol/telemetry.js';
import type { DeviceRow, IngestStore, IngestTable } from './store.js';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS predictions (
    device text NOT NULL, seq bigint NOT NULL, ts bigint NOT NULL, source text NOT NULL, frame_id text NOT NULL,
    model text NOT NULL, model_version text NOT NULL, label text NOT NULL, score double precision NOT NULL,
    top_k jsonb NOT NULL, latency_ms double precision NOT NULL, batch_id text NOT NULL, received_at bigint NOT NULL,
    PRIMARY KEY (device, seq)
  );
  CREATE TABLE IF NOT EXISTS batches (
    batch_id text PRIMARY KEY, device text NOT NULL, first bigint NOT NULL, last bigint NOT NULL,
    received_at bigint NOT NULL, duplicates integer NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS devices (
    device text PRIMARY KEY, site text, state text, status_ts bigint, agent_version text, last_seq bigint, updated_at bigint NOT NULL
  );
  CREATE TABLE IF NOT EXISTS events (
    device text NOT NULL, id bigint NOT NULL, ts bigint NOT NULL, level text NOT NULL, kind text NOT NULL,
    source text, message text NOT NULL, detail jsonb, received_at bigint NOT NULL, PRIMARY KEY (device, id)
  );
  CREATE TABLE IF NOT EXISTS health (
    device text NOT NULL, ts bigint NOT NULL, state text NOT NULL, reason text NOT NULL, outbox_pending bigint NOT NULL,
    oldest_pending_age_s double precision, store_bytes bigint, store_quota_bytes bigint, evictions jsonb NOT NULL,
    received_at bigint NOT NULL, PRIMARY KEY (device, ts)
  );
  CREATE TABLE IF NOT EXISTS explanations (
    device text NOT NULL, seq bigint NOT NULL, ts bigint NOT NULL, model text NOT NULL, method text NOT NULL,
    "values" jsonb NOT NULL, received_at bigint NOT NULL, PRIMARY KEY (device, seq)
  );
  CREATE TABLE IF NOT EXISTS samples (
    device text NOT NULL, id bigint NOT NULL, ts bigint NOT NULL, source text NOT NULL, frame_id text NOT NULL,
    seq bigint, media_type text NOT NULL, data bytea NOT NULL, received_at bigint NOT NULL, PRIMARY KEY (device, id)
  );
  ALTER TABLE samples ADD COLUMN IF NOT EXISTS reason text;
  ALTER TABLE predictions ADD COLUMN IF NOT EXISTS step text, ADD COLUMN IF NOT EXISTS fallback_reason text;
  CREATE TABLE IF NOT EXISTS drift_windows (
    device text NOT NULL, id bigint NOT NULL, model text NOT NULL, model_version text NOT NULL, started_at bigint NOT NULL,
    ended_at bigint NOT NULL, samples integer NOT NULL, level text NOT NULL, stats jsonb NOT NULL, received_at bigint NOT NULL,
    PRIMARY KEY (device, id)
  );
  CREATE TABLE IF NOT EXISTS labels (
    device text NOT NULL, seq bigint NOT NULL, ts bigint NOT NULL, model text NOT NULL, model_version text NOT NULL,
    source text NOT NULL, predicted text NOT NULL, label text NOT NULL, correct boolean NOT NULL, by text NOT NULL,
    sample_id bigint, received_at bigint NOT NULL,
    PRIMARY KEY (device, seq)
  );
  CREATE TABLE IF NOT EXISTS segment_stats (
    device text NOT NULL, id bigint NOT NULL, model text NOT NULL, key text NOT NULL, value text NOT NULL,
    started_at bigint NOT NULL, ended_at bigint NOT NULL, predictions integer NOT NULL, classes jsonb NOT NULL,
    mean_confidence double precision, fallback_share double precision NOT NULL, labelled integer NOT NULL, accuracy double precision,
    received_at bigint NOT NULL,
    PRIMARY KEY (device, id)
  );
`;

/**
 * Ingest into PostgreSQL. Several ingest processes may share one database (MQTT 5 shared
 * subscriptions spread the devices' messages over them): every insert is
 * `ON CONFLICT DO NOTHING` on the natural key, so whichever process gets a redelivered copy,
 * the row is stored once. A batch is one statement per table inside one transaction.
 */
export class PostgresIngestStore implements IngestStore {
  readonly kind = 'postgres';
  private constructor(private readonly pool: pg.Pool) {}

  /** Connects, creates `schema` and its tables if needed. */
  static async open(url: string, schema = 'public'): Promise<PostgresIngestStore> {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`postgres schema "${schema}": lower-case letters, digits and _ only`);
    const pool = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}` });
    pool.on('error', () => {
      // An idle client lost its server; the pool replaces it on the next query.
    });
    try {
      // Two ingest processes starting together must not race on CREATE SCHEMA or CREATE TABLE.
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(7007)');
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await client.query(SCHEMA);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresIngestStore(pool);
  }

  async storeBatch(b: PredictionBatch, at: number): Promise<number> {
    const p = b.predictions;
    return this.transaction(async (c) => {
      await c.query(
        `INSERT INTO batches (batch_id, device, first, last, received_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (batch_id) DO UPDATE SET duplicates = batches.duplicates + 1`,
        [b.batchId, b.device, b.first, b.last, at],
      );
      const res = await c.query(
        `INSERT INTO predictions (device, seq, ts, source, frame_id, model, model_version, label, score, top_k, latency_ms, batch_id, received_at, step, fallback_reason)
         SELECT $1, u.seq, u.ts, u.source, u.frame_id, u.model, u.model_version, u.label, u.score, u.top_k::jsonb, u.latency_ms, $2, $3, u.step, u.fallback_reason
         FROM unnest($4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::float8[], $12::text[], $13::float8[], $14::text[], $15::text[])
           AS u(seq, ts, source, frame_id, model, model_version, label, score, top_k, latency_ms, step, fallback_reason)
         ON CONFLICT (device, seq) DO NOTHING`,
        [
          b.device, b.batchId, at,
          p.map((r) => r.seq), p.map((r) => r.ts), p.map((r) => r.source), p.map((r) => r.frameId), p.map((r) => r.model),
          p.map((r) => r.modelVersion), p.map((r) => r.label), p.map((r) => r.score), p.map((r) => JSON.stringify(r.topK)), p.map((r) => r.latencyMs),
          p.map((r) => r.step ?? 'model'), p.map((r) => r.fallbackReason ?? null),
        ],
      );
      await c.query(
        `INSERT INTO devices (device, last_seq, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (device) DO UPDATE SET last_seq = greatest(coalesce(devices.last_seq, 0), excluded.last_seq), updated_at = excluded.updated_at`,
        [b.device, b.last, at],
      );
      return res.rowCount ?? 0;
    });
  }

  async storeEvents(b: EventBatch, at: number): Promise<number> {
    const e = b.events;
    const res = await this.pool.query(
      `INSERT INTO events (device, id, ts, level, kind, source, message, detail, received_at)
       SELECT $1, u.id, u.ts, u.level, u.kind, u.source, u.message, u.detail::jsonb, $2
       FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS u(id, ts, level, kind, source, message, detail)
       ON CONFLICT (device, id) DO NOTHING`,
      [b.device, at, e.map((x) => x.id), e.map((x) => x.ts), e.map((x) => x.level), e.map((x) => x.kind), e.map((x) => x.source ?? null), e.map((x) => x.message), e.map((x) => (x.detail ? JSON.stringify(x.detail) : null))],
    );
    return res.rowCount ?? 0;
  }

  async storeHealth(h: HealthReport, at: number): Promise<number> {
    const res = await this.pool.query(
      `INSERT INTO health (device, ts, state, reason, outbox_pending, oldest_pending_age_s, store_bytes, store_quota_bytes, evictions, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) ON CONFLICT (device, ts) DO NOTHING`,
      [h.device, h.ts, h.state, h.reason, h.outboxPending, h.oldestPendingAgeS, h.storeBytes, h.storeQuotaBytes, JSON.stringify(h.evictions), at],
    );
    return res.rowCount ?? 0;
  }

  async storeExplanations(b: ExplanationBatch, at: number): Promise<number> {
    const e = b.explanations;
    const res = await this.pool.query(
      `INSERT INTO explanations (device, seq, ts, model, method, "values", received_at)
       SELECT $1, u.seq, u.ts, u.model, u.method, u.v::jsonb, $2
       FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS u(seq, ts, model, method, v)
       ON CONFLICT (device, seq) DO NOTHING`,
      [b.device, at, e.map((x) => x.seq), e.map((x) => x.ts), e.map((x) => x.model), e.map((x) => x.method), e.map((x) => JSON.stringify(x.values ?? null))],
    );
    return res.rowCount ?? 0;
  }

  async storeSample(s: SampleMessage, data: Buffer, at: number): Promise<number> {
    const res = await this.pool.query(
      `INSERT INTO samples (device, id, ts, source, frame_id, seq, media_type, data, received_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (device, id) DO NOTHING`,
      [s.device, s.id, s.ts, s.source, s.frameId, s.seq ?? null, s.mediaType, data, at, s.reason ?? null],
    );
    return res.rowCount ?? 0;
  }

  async storeDriftWindows(b: DriftWindowBatch, at: number): Promise<number> {
    const w = b.windows;
    const res = await this.pool.query(
      `INSERT INTO drift_windows (device, id, model, model_version, started_at, ended_at, samples, level, stats, received_at)
       SELECT $1, u.id, u.model, u.model_version, u.started_at, u.ended_at, u.samples, u.level, u.stats::jsonb, $2
       FROM unnest($3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::integer[], $9::text[], $10::text[])
         AS u(id, model, model_version, started_at, ended_at, samples, level, stats)
       ON CONFLICT (device, id) DO NOTHING`,
      [b.device, at, w.map((x) => x.id), w.map((x) => x.model), w.map((x) => x.modelVersion), w.map((x) => x.startedAt), w.map((x) => x.endedAt), w.map((x) => x.samples), w.map((x) => x.level), w.map((x) => JSON.stringify(x.stats))],
    );
    return res.rowCount ?? 0;
  }

  async storeLabels(b: LabelBatch, at: number): Promise<number> {
    const l = b.labels;
    const res = await this.pool.query(
      `INSERT INTO labels (device, seq, ts, model, model_version, source, predicted, label, correct, by, sample_id, received_at)
       SELECT $1, u.seq, u.ts, u.model, u.model_version, u.source, u.predicted, u.label, u.correct, u.by, u.sample_id, $2
       FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[], $11::text[], $12::bigint[])
         AS u(seq, ts, model, model_version, source, predicted, label, correct, by, sample_id)
       ON CONFLICT (device, seq) DO UPDATE SET ts = excluded.ts, label = excluded.label, correct = excluded.correct, by = excluded.by,
         sample_id = coalesce(excluded.sample_id, labels.sample_id), received_at = excluded.received_at
       WHERE excluded.ts >= labels.ts AND (excluded.label <> labels.label OR excluded.by <> labels.by)`,
      [b.device, at, l.map((x) => x.seq), l.map((x) => x.ts), l.map((x) => x.model), l.map((x) => x.modelVersion), l.map((x) => x.source), l.map((x) => x.predicted), l.map((x) => x.label), l.map((x) => x.correct), l.map((x) => x.by), l.map((x) => x.sampleId ?? null)],
    );
    return res.rowCount ?? 0;
  }

  async storeSegments(b: SegmentStatsBatch, at: number): Promise<number> {
    const s = b.segments;
    const res = await this.pool.query(
      `INSERT INTO segment_stats (device, id, model, key, value, started_at, ended_at, predictions, classes, mean_confidence, fallback_share, labelled, accuracy, received_at)
       SELECT $1, u.id, u.model, u.key, u.value, u.started_at, u.ended_at, u.predictions, u.classes::jsonb, u.mean_confidence, u.fallback_share, u.labelled, u.accuracy, $2
       FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::integer[], $10::text[], $11::float8[], $12::float8[], $13::integer[], $14::float8[])
         AS u(id, model, key, value, started_at, ended_at, predictions, classes, mean_confidence, fallback_share, labelled, accuracy)
       ON CONFLICT (device, id) DO NOTHING`,
      [b.device, at, s.map((x) => x.id), s.map((x) => x.model), s.map((x) => x.key), s.map((x) => x.value), s.map((x) => x.startedAt), s.map((x) => x.endedAt), s.map((x) => x.predictions), s.map((x) => JSON.stringify(x.classes)), s.map((x) => x.meanConfidence), s.map((x) => x.fallbackShare), s.map((x) => x.labelled), s.map((x) => x.accuracy)],
    );
    return res.rowCount ?? 0;
  }

  async storeStatus(device: string, s: DeviceStatus, at: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO devices (device, site, state, status_ts, agent_version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (device) DO UPDATE SET site = excluded.site, state = excluded.state, status_ts = excluded.status_ts,
         agent_version = excluded.agent_version, updated_at = excluded.updated_at`,
      [device, s.site ?? null, s.state, s.ts, s.agentVersion ?? null, at],
    );
  }

  async count(table: IngestTable, device?: string): Promise<number> {
    const res = device === undefined
      ? await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
      : await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE device = $1`, [device]);
    return Number(res.rows[0]?.n ?? 0);
  }

  async device(id: string): Promise<DeviceRow | undefined> {
    const res = await this.pool.query<DeviceRow>('SELECT * FROM devices WHERE device = $1', [id]);
    const row = res.rows[0];
    if (!row) return undefined;
    const num = (v: unknown) => (v === null ? null : Number(v));
    return { ...row, status_ts: num(row.status_ts), last_seq: num(row.last_seq), updated_at: Number(row.updated_at) };
  }

  /** Runs `fn` in a transaction on one pooled client. */
  private async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
