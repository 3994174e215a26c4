import type { Logger } from 'pino';
import type { EncodedRows, Outbox } from '../buffer/outbox.js';
import { systemClock, type Clock } from '../clock.js';
import type { BrokerConfig } from '../config/schema.js';
import { AgentError } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Component } from '../lifecycle/component.js';
import { deviceTopics } from '../../protocol/topics.js';
import { batchJson, gzipBatch } from './batch-encoding.js';
import { recordBudget } from './batcher.js';
import { clientOptions, type DeviceIdentity } from './client-options.js';
import { BrokerConnection, type ConnectFn } from './connection.js';
import { Delivery, type SyncStats, type WireMessage } from './delivery.js';
import { InboundGuard } from './inbound-guard.js';
import { type MessageHandler, Subscriptions } from './subscriptions.js';

export type { SyncStats } from './delivery.js';

export interface MqttSyncOptions {
  deviceId: string;
  site: string;
  agentVersion: string;
  config: BrokerConfig;
  outbox: Outbox;
  events: EventSink;
  log: Logger;
  clock?: Clock;
  /** Budget of `stop()` when it is not given one: flushing, then saying goodbye. */
  stopDeadlineMs?: number;
  /** How long a batch may wait for its PUBACK before the connection is presumed dead. */
  ackTimeoutMs?: number;
  /** Transport seam for tests. */
  connect?: ConnectFn;
  random?: () => number;
  /** False when another output (Sparkplug B) carries the predictions; the session still serves rollout and status. */
  sendPredictions?: boolean;
}

export interface SyncStopOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
}

/**
 * The agent's MQTT link: one session kept up by BrokerConnection, the outbox forwarded over
 * it by Delivery (QoS 1 batches, gzip, a window of batches in flight, live before backlog),
 * and inbound subscriptions (rollout) renewed on every session behind a size and rate guard.
 */
export class MqttSync implements Component {
  readonly name = 'sync';
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly identity: DeviceIdentity;
  private readonly connection: BrokerConnection;
  private readonly delivery: Delivery;
  private readonly subscriptions: Subscriptions;
  private readonly topic: string;
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: MqttSyncOptions) {
    this.log = opts.log.child({ component: this.name });
    this.clock = opts.clock ?? systemClock;
    this.identity = { deviceId: opts.deviceId, site: opts.site, agentVersion: opts.agentVersion };
    const { config } = opts;
    this.topic = deviceTopics(config.topicPrefix, opts.deviceId).predictions;
    const random = opts.random ? { random: opts.random } : {};
    this.connection = new BrokerConnection({
      config,
      identity: this.identity,
      events: opts.events,
      log: opts.log,
      clock: this.clock,
      ...(opts.connect ? { connect: opts.connect } : {}),
      ...random,
    });
    this.delivery = new Delivery({
      outbox: opts.outbox,
      session: this.connection,
      encode: (rows) => this.encode(rows),
      maxCount: config.batch.maxCount,
      backlogMaxCount: config.batch.backlogMaxCount,
      maxBytes: recordBudget(opts.deviceId, config.batch.maxBytes),
      lingerMs: config.batch.lingerMs,
      inflight: config.inflight,
      backlogRatePerS: config.backlogRatePerS,
      ackTimeoutMs: opts.ackTimeoutMs ?? Math.max(10_000, config.keepaliveS * 2000),
      reconnect: config.reconnect,
      events: opts.events,
      log: this.log,
      clock: this.clock,
      ...random,
    });
    const guard = new InboundGuard({ ...config.inbound, clock: this.clock, events: opts.events, log: this.log });
    this.subscriptions = new Subscriptions(this.log, guard);
    this.connection.onSession((session) => this.subscriptions.attach(session));
  }

  get stats(): SyncStats {
    return this.delivery.stats;
  }

  /** Hears `filter` on every session from now on; the handler validates what it gets. */
  subscribe(filter: string, handler: MessageHandler): void {
    this.subscriptions.add(filter, handler);
  }

  /** Stops hearing `filter`. */
  unsubscribe(filter: string): void {
    this.subscriptions.remove(filter);
  }

  /** Calls `listener` on every new session, e.g. to republish a retained report. */
  onSession(listener: () => void): void {
    this.connection.onSession(() => listener());
  }

  /** Publishes on the live session (QoS 1); rejects with E_BROKER_DISCONNECTED when there is none. */
  async publishMessage(topic: string, payload: string | Buffer, opts: { retain?: boolean } = {}): Promise<void> {
    const session = this.connection.session;
    if (!session) throw new AgentError('E_BROKER_DISCONNECTED', `not connected: ${topic} not published`, { retryable: true });
    await session.client.publishAsync(topic, payload, { qos: 1, retain: opts.retain ?? false });
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Tells the sync rows were committed (wire it to OutboxWriter's onCommit). Cheap, never throws. */
  wake(): void {
    this.delivery.wake();
  }

  /** Resolves without waiting for the broker: the agent must run, and buffer, while it is away. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.started || this.stopping) return;
    this.started = true;
    clientOptions(this.opts.config, this.identity, this.clock.now()); // fails fast on unreadable TLS files
    this.connection.run(signal);
    if (this.opts.sendPredictions !== false) this.delivery.run();
  }

  /** Sends what is pending while connected and time is left, then says goodbye. Safe twice. */
  stop(opts: SyncStopOptions = {}): Promise<void> {
    this.stopping ??= this.shutdown(opts);
    return this.stopping;
  }

  private async shutdown(opts: SyncStopOptions): Promise<void> {
    const total = opts.deadlineMs ?? this.opts.stopDeadlineMs ?? 5000;
    const goodbyeMs = Math.min(1000, total / 4);
    const flushEnd = AbortSignal.any([AbortSignal.timeout(Math.max(1, total - goodbyeMs)), ...(opts.signal ? [opts.signal] : [])]);
    this.connection.stopReconnecting();
    if (this.started) {
      const pending = this.opts.outbox.pendingCount();
      if (pending > 0 && this.connected) this.log.info({ pending }, 'flushing the outbox before stopping');
      // Whatever is still in flight at the deadline stays unsent in SQLite and goes at the next start.
      await this.delivery.finish(flushEnd);
    }
    await this.connection.close(goodbyeMs);
  }

  private async encode(rows: EncodedRows): Promise<WireMessage> {
    const id = `${this.opts.deviceId}:${rows.first}-${rows.last}`;
    const json = batchJson(this.opts.deviceId, rows, this.clock.now());
    if (this.opts.config.compression === 'none') return { topic: this.topic, payload: json, id };
    return { topic: this.topic, payload: await gzipBatch(json), id };
  }
}
