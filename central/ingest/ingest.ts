// Before mqtt-packet loads, so that it keeps packet lengths in a block of their own (see the module).
import '../../protocol/mqtt-length-cache.js';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { tlsClientOptions } from '../../agent/sync/client-options.js';
import { decode, INGESTED_KINDS, type Inbound } from './messages.js';
import { PostgresIngestStore } from './postgres-store.js';
import { SqliteIngestStore } from './sqlite-store.js';
import type { DeviceRow, IngestStore } from './store.js';

export type { DeviceRow } from './store.js';

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
  /** A SQLite file (also written `sqlite:FILE`), or a `postgres://` URL. */
  dbPath: string;
  /** PostgreSQL schema holding the tables (created if missing). */
  pgSchema?: string;
  topicPrefix: string;
  protocolVersion: 5 | 4;
  /** Stable across restarts: the broker keeps this id's session and queues for it while away. */
  clientId: string;
  /** MQTT 5 shared subscription group: ingest processes in one group split the devices' messages. */
  shareGroup?: string;
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
  /** Events, health reports, explanations and samples stored for the first time. */
  telemetry: number;
  /** Messages that could not be written; left unacknowledged so the broker redelivers them. */
  storeErrors: number;
}

/**
 * Central's end of the pipe: hears every device's batches, status and telemetry, checks
 * each payload against the wire contract, and stores it exactly once per natural key
 * ((device, seq) for predictions). A message is acknowledged only after its transaction
 * committed, so a crash here loses nothing.
 */
export class Ingest {
  readonly stats: IngestStats = { batches: 0, received: 0, duplicates: 0, refused: 0, statuses: 0, telemetry: 0, storeErrors: 0 };
  private readonly log: Logger;
  private sqlite: SqliteIngestStore | undefined;
  private backend: IngestStore | undefined;
  private client: MqttClient | undefined;
  private stopped = false;

  constructor(private readonly opts: IngestOptions) {
    this.log = opts.log.child({ component: 'ingest' });
    if (!isPostgres(opts.dbPath)) {
      this.sqlite = new SqliteIngestStore(opts.dbPath.replace(/^sqlite:/, ''));
      this.backend = this.sqlite;
    }
  }

  /** Opens the database (PostgreSQL), connects and subscribes; resolves once subscribed. */
  async start(signal?: AbortSignal): Promise<void> {
    this.backend ??= await PostgresIngestStore.open(this.opts.dbPath, this.opts.pgSchema);
    const client = connect(this.opts.brokerUrl, this.clientOptions());
    this.client = client;
    // Runs before MQTT.js sends the PUBACK, so an ack always means "committed here".
    client.handleMessage = (packet, done) => {
      void this.guarded(packet).then(done);
    };
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
        client.subscribe(this.filters(), { qos: 1 }, (err, granted) => {
          const refused = granted?.filter((g) => g.qos > 2) ?? [];
          if (err || refused.length > 0) {
            this.log.error({ err, refused }, 'subscription refused by the broker');
            return;
          }
          this.log.info({ url: this.opts.brokerUrl, sessionPresent: connack.sessionPresent, shareGroup: this.opts.shareGroup }, 'ingest subscribed');
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
    await this.backend?.close();
  }

  /** The database behind ingest, for queries of any backend. */
  get store(): IngestStore {
    if (!this.backend) throw new Error('ingest is not started');
    return this.backend;
  }

  /** Predictions stored, all devices (SQLite backend). */
  count(): number {
    return this.sqliteStore().countNow('predictions');
  }

  /** Predictions stored for one device (SQLite backend). */
  countFor(device: string): number {
    return this.sqliteStore().countNow('predictions', device);
  }

  device(id: string): DeviceRow | undefined {
    return this.sqliteStore().deviceNow(id);
  }

  /** The SQLite database, for reports and tests. */
  get database(): SqliteIngestStore['db'] {
    return this.sqliteStore().db;
  }

  private sqliteStore(): SqliteIngestStore {
    if (!this.sqlite) throw new Error('this ingest writes to PostgreSQL; query it through `store`');
    return this.sqlite;
  }

  /** Every device's topics; shared in a group when one is set (MQTT 5), except the retained status. */
  private filters(): string[] {
    const share = this.opts.shareGroup && this.opts.protocolVersion === 5 ? `$share/${this.opts.shareGroup}/` : '';
    return INGESTED_KINDS.map((kind) => `${kind === 'status' ? '' : share}${this.opts.topicPrefix}/+/${kind}`);
  }

  /** A bug in handling one message must not take the subscriber down with it. */
  private async guarded(packet: IPublishPacket): Promise<Error | undefined> {
    try {
      return await this.onMessage(packet);
    } catch (err) {
      this.log.error({ err, topic: packet.topic }, 'unexpected error handling a message');
      return this.refuse(packet.topic, 'could not be handled');
    }
  }

  /** Handles one inbound message; an Error withholds the PUBACK. */
  private async onMessage(packet: IPublishPacket): Promise<Error | undefined> {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const decoded = decode(this.opts.topicPrefix, packet.topic, payload);
    if (!decoded.ok) return this.refuse(packet.topic, decoded.reason);
    try {
      await this.store1(decoded.value, Date.now());
    } catch (err) {
      this.stats.storeErrors++;
      this.log.error({ err, topic: packet.topic }, 'could not store a message; leaving it unacknowledged');
      return err instanceof Error ? err : new Error(String(err));
    }
    return undefined;
  }

  private async store1(m: Inbound, at: number): Promise<void> {
    const store = this.store;
    switch (m.kind) {
      case 'predictions': {
        const fresh = await store.storeBatch(m.value, at);
        this.stats.batches++;
        this.stats.received += fresh;
        const repeats = m.value.predictions.length - fresh;
        this.stats.duplicates += repeats;
        if (repeats > 0) this.log.info({ batchId: m.value.batchId, duplicates: repeats }, 'redelivered predictions dropped');
        return;
      }
      case 'status':
        if (!m.value) return;
        await store.storeStatus(m.device, m.value, at);
        this.stats.statuses++;
        this.log.info({ device: m.device, state: m.value.state }, `device ${m.value.state}`);
        return;
      case 'events':
        this.stats.telemetry += await store.storeEvents(m.value, at);
        return;
      case 'health':
        this.stats.telemetry += await store.storeHealth(m.value, at);
        return;
      case 'explanations':
        this.stats.telemetry += await store.storeExplanations(m.value, at);
        return;
      case 'samples':
        this.stats.telemetry += await store.storeSample(m.value, m.data, at);
        return;
      case 'drift':
        this.stats.telemetry += await store.storeDriftWindows(m.value, at);
        return;
      case 'labels':
        this.stats.telemetry += await store.storeLabels(m.value, at);
        return;
      case 'segments':
        this.stats.telemetry += await store.storeSegments(m.value, at);
        return;
    }
  }

  /** A refused payload is acknowledged all the same: redelivering garbage would not improve it. */
  private refuse(topic: string, reason: string): undefined {
    this.stats.refused++;
    this.log.warn({ topic, reason }, `refused a payload on ${topic}: ${reason}`);
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

function isPostgres(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}
