import type { Logger } from 'pino';
import type { SqliteDatabase } from '../../buffer/database.js';
import type { EncodedRows, Outbox } from '../../buffer/outbox.js';
import { systemClock, type Clock } from '../../clock.js';
import type { BrokerConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { EventSink } from '../../events.js';
import type { Component } from '../../lifecycle/component.js';
import type { PredictionRecord } from '../../../protocol/predictions.js';
import { recordBudget } from '../batcher.js';
import { BrokerConnection, type BrokerSession, type ConnectFn, type Presence } from '../connection.js';
import { Delivery, type SyncStats, type WireMessage } from '../delivery.js';
import { InboundGuard } from '../inbound-guard.js';
import { BirthDeathSequence } from './bdseq.js';
import { Subscriptions } from '../subscriptions.js';
import { birthPayload, dataPayload, deathPayload, decodePayload, type NodeHealth, REBIRTH } from './payloads.js';
import { nodeTopic, parseState, stateTopic } from './topics.js';

export interface SparkplugNodeOptions {
  deviceId: string;
  site: string;
  agentVersion: string;
  config: BrokerConfig;
  outbox: Outbox;
  /** The store's database, where bdSeq outlives the process; without it bdSeq restarts at 0. */
  database?: SqliteDatabase;
  events: EventSink;
  log: Logger;
  /** The agent's health for the Health/* metrics. */
  health?: () => NodeHealth;
  clock?: Clock;
  connect?: ConnectFn;
  random?: () => number;
  stopDeadlineMs?: number;
}

const NO_HEALTH: NodeHealth = { state: 'starting', reason: '', outboxPending: 0 };

/**
 * The agent as a Sparkplug B edge node, so SCADA hosts (Ignition) see its predictions and
 * health as tags. Its own MQTT connection carries NDEATH as the will with a bdSeq that grows
 * per connection and outlives restarts (stored in SQLite); after connecting it waits for the primary host's STATE to say online (when
 * one is configured), then sends NBIRTH (seq 0) and NDATA (seq 1..255, wrapping) from the
 * outbox. Rows are marked sent by the PUBACK of the NDATA carrying them, so NDATA goes at
 * QoS 1; backlog rows carry is_historical. An NCMD writing Node Control/Rebirth = true gets
 * a new NBIRTH.
 */
export class SparkplugNode implements Component {
  readonly name = 'sparkplug';
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly node: string;
  private readonly group: string;
  private readonly host: string | undefined;
  private readonly connection: BrokerConnection;
  private readonly delivery: Delivery;
  private readonly subscriptions: Subscriptions;
  /** bdSeq of the connection attempt in progress or live, persisted across restarts. */
  private readonly bdSeqs: BirthDeathSequence;
  private seq = 0;
  private born = false;
  private hostOnline: boolean;
  /** The newest prediction per source and model: NBIRTH declares their metrics. */
  private readonly latest = new Map<string, PredictionRecord>();
  private healthTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: SparkplugNodeOptions) {
    this.log = opts.log.child({ component: this.name });
    this.clock = opts.clock ?? systemClock;
    const { config } = opts;
    this.node = config.sparkplug.edgeNodeId ?? opts.deviceId;
    this.group = config.sparkplug.groupId;
    this.host = config.sparkplug.primaryHostId;
    this.hostOnline = this.host === undefined;
    this.bdSeqs = new BirthDeathSequence({ ...(opts.database ? { database: opts.database } : {}), key: `sparkplug.bdSeq ${this.group}/${this.node}`, log: this.log });
    const random = opts.random ? { random: opts.random } : {};
    this.connection = new BrokerConnection({
      config,
      identity: { deviceId: opts.deviceId, site: opts.site, agentVersion: opts.agentVersion },
      events: opts.events,
      log: this.log,
      clock: this.clock,
      presence: this.presence(),
      ...(opts.connect ? { connect: opts.connect } : {}),
      ...random,
    });
    this.delivery = new Delivery({
      outbox: opts.outbox,
      session: this.connection,
      encode: (rows, backlog) => this.encodeData(rows, backlog),
      ready: () => this.born && this.hostOnline,
      maxCount: config.batch.maxCount,
      backlogMaxCount: config.batch.backlogMaxCount,
      maxBytes: recordBudget(opts.deviceId, config.batch.maxBytes),
      lingerMs: config.batch.lingerMs,
      inflight: config.inflight,
      backlogRatePerS: config.backlogRatePerS,
      ackTimeoutMs: Math.max(10_000, config.keepaliveS * 2000),
      reconnect: config.reconnect,
      events: opts.events,
      log: this.log,
      clock: this.clock,
      ...random,
    });
    const guard = new InboundGuard({ ...config.inbound, clock: this.clock, events: opts.events, log: this.log });
    this.subscriptions = new Subscriptions(this.log, guard);
    this.subscriptions.add(nodeTopic(this.group, 'NCMD', this.node), (_t, payload) => this.onCommand(payload));
    if (this.host) this.subscriptions.add(stateTopic(this.host), (_t, payload) => this.onState(payload));
    this.connection.onSession((session) => this.subscriptions.attach(session));
  }

  get stats(): SyncStats {
    return this.delivery.stats;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Whether NBIRTH went out on the live session and the primary host is online. */
  get publishing(): boolean {
    return this.connection.connected && this.born && this.hostOnline;
  }

  /** Rows were committed (wire to OutboxWriter's onCommit). */
  wake(): void {
    this.delivery.wake();
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.stopping) return;
    this.connection.run(signal);
    this.delivery.run();
    const every = this.opts.config.sparkplug.healthS * 1000;
    this.healthTimer = setInterval(() => this.publishHealth(), every);
    this.healthTimer.unref();
  }

  stop(opts: { deadlineMs?: number } = {}): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.healthTimer);
      const total = opts.deadlineMs ?? this.opts.stopDeadlineMs ?? 5000;
      const goodbyeMs = Math.min(1000, total / 4);
      this.connection.stopReconnecting();
      await this.delivery.finish(AbortSignal.timeout(Math.max(1, total - goodbyeMs)));
      await this.connection.close(goodbyeMs);
    })();
    return this.stopping;
  }

  private presence(): Presence {
    return {
      source: this.name,
      options: (base) => {
        // A new will per attempt: hosts match an NDEATH to its NBIRTH by bdSeq.
        const will = { topic: nodeTopic(this.group, 'NDEATH', this.node), payload: deathPayload(this.clock.now(), this.bdSeqs.next()), qos: 1 as const, retain: false };
        const options = { ...base, clientId: `${base.clientId ?? this.opts.deviceId}-spb`, clean: true, will };
        if (options.protocolVersion === 5) options.properties = { ...options.properties, sessionExpiryInterval: 0 };
        return options;
      },
      hello: (session) => {
        this.born = false;
        if (this.host) this.hostOnline = false; // wait for a fresh STATE on this session
        else this.birth(session);
      },
      goodbye: async (session) => {
        this.born = false;
        await session.client.publishAsync(nodeTopic(this.group, 'NDEATH', this.node), deathPayload(this.clock.now(), this.bdSeqs.current), { qos: 1 });
      },
    };
  }

  private birth(session: BrokerSession | undefined = this.connection.session): void {
    if (!session) return;
    this.seq = 0;
    const bdSeq = this.bdSeqs.current;
    const payload = birthPayload({ ts: this.clock.now(), bdSeq, health: this.health(), latest: [...this.latest.values()] });
    session.client.publish(nodeTopic(this.group, 'NBIRTH', this.node), payload, { qos: 0 }, (err) => {
      if (err && session.open) this.log.warn({ err }, 'could not publish NBIRTH');
    });
    this.born = true;
    this.log.info({ bdSeq, group: this.group, node: this.node }, 'Sparkplug NBIRTH sent');
    this.delivery.wake();
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % 256;
    return this.seq;
  }

  private encodeData(rows: EncodedRows, backlog: boolean): WireMessage {
    const predictions = JSON.parse(`[${rows.records.toString('utf8')}]`) as PredictionRecord[];
    let unknown = false;
    for (const p of predictions) {
      const key = `${p.source}\u0000${p.model}`;
      if (!this.latest.has(key)) unknown = true;
      this.latest.set(key, p);
    }
    // A metric the last NBIRTH did not declare: declare it with a new NBIRTH first.
    if (unknown) this.birth();
    const payload = dataPayload({ ts: this.clock.now(), seq: this.nextSeq(), predictions, historical: backlog });
    return { topic: nodeTopic(this.group, 'NDATA', this.node), payload, id: `NDATA ${rows.first}-${rows.last}` };
  }

  private publishHealth(): void {
    const session = this.connection.session;
    if (!session || !this.born || !this.hostOnline) return;
    const payload = dataPayload({ ts: this.clock.now(), seq: this.nextSeq(), predictions: [], historical: false, health: this.health() });
    session.client.publish(nodeTopic(this.group, 'NDATA', this.node), payload, { qos: 0 });
  }

  private health(): NodeHealth {
    try {
      return this.opts.health?.() ?? { ...NO_HEALTH, outboxPending: this.opts.outbox.pendingCount() };
    } catch {
      return NO_HEALTH;
    }
  }

  private onCommand(payload: Buffer): void {
    let metrics;
    try {
      metrics = decodePayload(payload).metrics ?? [];
    } catch (err) {
      return this.refuse(`NCMD is not a Sparkplug B payload: ${errorMessage(err)}`);
    }
    if (metrics.length === 0) return this.refuse('NCMD carries no metric');
    for (const m of metrics) {
      if (m.name === REBIRTH && m.value === true) {
        this.log.info('rebirth requested');
        this.birth();
      } else if (m.name === REBIRTH) {
        this.refuse(`NCMD ${REBIRTH} must be true, got ${JSON.stringify(m.value)}`);
      } else {
        this.refuse(`unknown NCMD metric "${m.name ?? ''}"; this node accepts only "${REBIRTH}"`);
      }
    }
  }

  private onState(payload: Buffer): void {
    const state = parseState(payload);
    if (!state.ok) return this.refuse(`${stateTopic(this.host ?? '')}: ${state.reason}`);
    const was = this.hostOnline;
    this.hostOnline = state.online;
    if (state.online && !was) {
      this.log.info({ host: this.host }, 'primary host online');
      this.birth();
    } else if (!state.online && was) {
      // Hold NDATA in the outbox until the host is back; it gets a new NBIRTH then.
      this.log.warn({ host: this.host }, 'primary host offline; holding data');
      this.born = false;
    }
  }

  private refuse(reason: string): void {
    this.log.warn({ reason }, `refused a command: ${reason}`);
    this.opts.events.record({ level: 'warn', kind: 'command_refused', source: this.name, message: reason, detail: { node: this.node } });
  }
}
