import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { parsePayload } from '../protocol/parse.js';
import { MAX_BATCH_BYTES, PredictionBatch } from '../protocol/predictions.js';
import { DeviceStatus } from '../protocol/status.js';
import { deviceOfTopic, fleetFilters } from '../protocol/topics.js';
import { tlsClientOptions } from '../agent/sync/client-options.js';

/** Status messages are tiny; anything bigger is not one. */
const MAX_STATUS_BYTES = 16 * 1024;

export interface IngestTls {
  /** Paths to PEM files. */
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export interface IngestOptions {
  brokerUrl: string;
  dbPath: string;
  topicPrefix: string;
  protocolVersion: 5 | 4;
  /** Stable across restarts: the broker keeps this id's session and queues for it while away. */
  clientId: string;
  log: Logger;
  tls?: IngestTls;
  username?: string;
  password?: string;
  /** Interval of MQTT.js's reconnect; central is one process, so a fixed interval is fine. */
  reconnectMs?: number;
}

/** What ingest has seen since it started. */
export interface IngestStats {
  /** Valid batches, including redelivered ones. */
  batches: number;
  /** Predictions stored for the first time. */
  received: number;
  /** Predictions already stored, dropped by (device, seq). */
  duplicates: number;
  /** Payloads refused: oversize, not JSON, wrong schema, wrong topic. */
  refused: number;
  statuses: number;
  /** Batches that could not be written; left unacknowledged so the broker redelivers them. */
  storeErrors: number;
}

/** Last known state of a device, from its status topic and its latest batch. */
export interface DeviceRow {
  device: string;
  site: string | null;
  state: string | null;
  status_ts: number | null;
  agent_version: string | null;
  last_seq: number | null;
  updated_at: number;
}

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
`;

/**
 * Central's end of the pipe: hears every device's batches and status, checks each payload
 * against the wire contract, and stores predictions exactly once per (device, seq). A batch
 * is acknowledged only after its transaction committed, so a crash here loses nothing.
 */
export class Ingest {
  readonly stats: IngestStats = { batches: 0, received: 0, duplicates: 0, refused: 0, statuses: 0, storeErrors: 0 };
  private readonly log: Logger;
  private readonly db: Database.Database;
  private readonly storeBatch: (batch: PredictionBatch, at: number) => number;
  private readonly upsertStatus: Database.Statement<[string, string | null, string, number, string | null, number]>;
  private client: MqttClient | undefined;
  private stopped = false;

  constructor(private readonly opts: IngestOptions) {
    this.log = opts.log.child({ component: 'ingest' });
    mkdirSync(dirname(opts.dbPath), { recursive: true });
    this.db = new Database(opts.dbPath);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    const insertBatch = this.db.prepare(
      `INSERT INTO batches (batch_id, device, first, last, received_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (batch_id) DO UPDATE SET duplicates = duplicates + 1`,
    );
    const insertPrediction = this.db.prepare(
      `INSERT OR IGNORE INTO predictions (device, seq, ts, source, frame_id, model, model_version, label, score, top_k, latency_ms, batch_id, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const touchDevice = this.db.prepare(
      `INSERT INTO devices (device, last_seq, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET last_seq = max(coalesce(last_seq, 0), excluded.last_seq), updated_at = excluded.updated_at`,
    );
    this.upsertStatus = this.db.prepare(
      `INSERT INTO devices (device, site, state, status_ts, agent_version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET site = excluded.site, state = excluded.state, status_ts = excluded.status_ts,
         agent_version = excluded.agent_version, updated_at = excluded.updated_at`,
    );
    this.storeBatch = this.db.transaction((b: PredictionBatch, at: number) => {
      insertBatch.run(b.batchId, b.device, b.first, b.last, at);
      let fresh = 0;
      for (const p of b.predictions) {
        const topK = JSON.stringify(p.topK);
        fresh += insertPrediction.run(b.device, p.seq, p.ts, p.source, p.frameId, p.model, p.modelVersion, p.label, p.score, topK, p.latencyMs, b.batchId, at).changes;
      }
      touchDevice.run(b.device, b.last, at);
      return fresh;
    });
  }

  /** Connects and subscribes; resolves once the first subscription is granted. */
  start(signal?: AbortSignal): Promise<void> {
    const client = connect(this.opts.brokerUrl, this.clientOptions());
    this.client = client;
    // Runs before MQTT.js sends the PUBACK, so an ack always means "committed here".
    client.handleMessage = (packet, done) => done(this.guarded(packet));
    // One warning per outage; MQTT.js reports every failed retry.
    let quiet = false;
    client.on('error', (err) => {
      if (quiet) this.log.debug({ err }, `mqtt: ${err.message}`);
      else this.log.warn({ err }, `mqtt: ${err.message}`);
      quiet = true;
    });
    client.on('offline', () => this.log.warn({ url: this.opts.brokerUrl }, 'broker connection lost; reconnecting'));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error('ingest start aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      // Subscribe on every connect: a broker restarted without persistence forgot our session.
      client.on('connect', (connack) => {
        quiet = false;
        const filters = fleetFilters(this.opts.topicPrefix);
        client.subscribe([filters.predictions, filters.status], { qos: 1 }, (err, granted) => {
          const refused = granted?.filter((g) => g.qos > 2) ?? [];
          if (err || refused.length > 0) {
            this.log.error({ err, refused }, 'subscription refused by the broker');
            return;
          }
          this.log.info({ url: this.opts.brokerUrl, sessionPresent: connack.sessionPresent }, 'ingest subscribed');
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const client = this.client;
    if (client) {
      // A clean DISCONNECT, unless the broker does not answer within a moment.
      const timer = setTimeout(() => client.end(true), 2000);
      await client.endAsync().catch((err: unknown) => this.log.warn({ err }, 'mqtt end failed'));
      clearTimeout(timer);
    }
    this.db.close();
  }

  /** Predictions stored, all devices. */
  count(): number {
    return this.db.prepare<[], number>('SELECT count(*) FROM predictions').pluck().get() ?? 0;
  }

  /** Predictions stored for one device. */
  countFor(device: string): number {
    return this.db.prepare<[string], number>('SELECT count(*) FROM predictions WHERE device = ?').pluck().get(device) ?? 0;
  }

  device(id: string): DeviceRow | undefined {
    return this.db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE device = ?').get(id);
  }

  /** The ingest database, for reports and tests. */
  get database(): Database.Database {
    return this.db;
  }

  /** A bug in handling one message must not take the subscriber down with it. */
  private guarded(packet: IPublishPacket): Error | undefined {
    try {
      return this.onMessage(packet);
    } catch (err) {
      this.log.error({ err, topic: packet.topic }, 'unexpected error handling a message');
      return this.refuse(packet.topic, 'could not be handled');
    }
  }

  /** Handles one inbound message; an Error withholds the PUBACK. */
  private onMessage(packet: IPublishPacket): Error | undefined {
    const topic = packet.topic;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const device = deviceOfTopic(this.opts.topicPrefix, topic);
    const kind = device === undefined ? undefined : topic.slice(this.opts.topicPrefix.length + device.length + 2);
    if (device === undefined || (kind !== 'predictions' && kind !== 'status')) return this.refuse(topic, 'not a device predictions or status topic');
    if (kind === 'status') return this.onStatus(topic, device, payload);
    const parsed = parsePayload(PredictionBatch, payload, MAX_BATCH_BYTES);
    if (!parsed.ok) return this.refuse(topic, parsed.reason);
    const batch = parsed.value;
    if (batch.device !== device) return this.refuse(topic, `batch of device "${batch.device}" on the topic of "${device}"`);
    let fresh: number;
    try {
      fresh = this.storeBatch(batch, Date.now());
    } catch (err) {
      this.stats.storeErrors++;
      this.log.error({ err, batchId: batch.batchId }, 'could not store a batch; leaving it unacknowledged');
      return err instanceof Error ? err : new Error(String(err));
    }
    this.stats.batches++;
    this.stats.received += fresh;
    this.stats.duplicates += batch.predictions.length - fresh;
    if (fresh < batch.predictions.length) {
      this.log.info({ batchId: batch.batchId, duplicates: batch.predictions.length - fresh }, 'redelivered predictions dropped');
    }
    return undefined;
  }

  private onStatus(topic: string, device: string, payload: Buffer): Error | undefined {
    if (payload.length === 0) return undefined; // someone cleared the retained status
    const parsed = parsePayload(DeviceStatus, payload, MAX_STATUS_BYTES);
    if (!parsed.ok) return this.refuse(topic, parsed.reason);
    const s = parsed.value;
    if (s.device !== device) return this.refuse(topic, `status of device "${s.device}" on the topic of "${device}"`);
    try {
      this.upsertStatus.run(device, s.site ?? null, s.state, s.ts, s.agentVersion ?? null, Date.now());
    } catch (err) {
      this.stats.storeErrors++;
      this.log.error({ err, device }, 'could not store a status');
      return err instanceof Error ? err : new Error(String(err));
    }
    this.stats.statuses++;
    this.log.info({ device, state: s.state }, `device ${s.state}`);
    return undefined;
  }

  /** A refused payload is acknowledged all the same: redelivering garbage would not improve it. */
  private refuse(topic: string, reason: string): undefined {
    this.stats.refused++;
    this.log.warn({ topic, reason }, `refused a payload: ${reason}`);
    return undefined;
  }

  private clientOptions(): IClientOptions {
    const { opts } = this;
    const options: IClientOptions = {
      protocolVersion: opts.protocolVersion,
      clientId: opts.clientId,
      clean: false,
      reconnectPeriod: opts.reconnectMs ?? 1000,
      resubscribe: false,
    };
    if (opts.protocolVersion === 5) options.properties = { sessionExpiryInterval: 7 * 24 * 3600 };
    if (opts.username !== undefined) options.username = opts.username;
    if (opts.password !== undefined) options.password = opts.password;
    if (opts.tls) Object.assign(options, tlsClientOptions(opts.tls, 'tls '));
    return options;
  }
}
