import type { Logger } from 'pino';
import type { Outbox } from '../buffer/outbox.js';
import { systemClock, type Clock } from '../clock.js';
import type { BrokerConfig } from '../config/schema.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Component } from '../lifecycle/component.js';
import { Backoff, sleep } from '../lifecycle/backoff.js';
import type { PredictionRecord } from '../../protocol/predictions.js';
import { deviceTopics } from '../../protocol/topics.js';
import { recordBudget, toBatch } from './batcher.js';
import { clientOptions, type DeviceIdentity } from './client-options.js';
import { BrokerConnection, type BrokerSession, type ConnectFn } from './connection.js';
import { Doorbell } from './doorbell.js';
import { type MessageHandler, Subscriptions } from './subscriptions.js';

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
}

export interface SyncStopOptions {
  deadlineMs?: number;
  signal?: AbortSignal;
}

/** What the sync has delivered since start; the status page reads it. */
export interface SyncStats {
  batchesAcked: number;
  predictionsAcked: number;
  lastAckAt: number | undefined;
}

/**
 * Forwards the outbox to the broker: one QoS 1 batch in flight at a time (so central sees
 * a device's rows in order), rows marked sent only on the PUBACK for the batch carrying
 * them. After a loss the same rows go again under the same batch id; central drops repeats.
 */
export class MqttSync implements Component {
  readonly name = 'sync';
  readonly stats: SyncStats = { batchesAcked: 0, predictionsAcked: 0, lastAckAt: undefined };
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly identity: DeviceIdentity;
  private readonly connection: BrokerConnection;
  private readonly topic: string;
  private readonly budget: number;
  private readonly doorbell = new Doorbell();
  private readonly halt = new AbortController();
  private readonly drain = new AbortController();
  private readonly retry: Backoff;
  private readonly subscriptions: Subscriptions;
  private sending: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private refusing = false;
  private scope: { session: BrokerSession; ends: AbortSignal } | undefined;

  constructor(private readonly opts: MqttSyncOptions) {
    this.log = opts.log.child({ component: this.name });
    this.clock = opts.clock ?? systemClock;
    this.identity = { deviceId: opts.deviceId, site: opts.site, agentVersion: opts.agentVersion };
    this.topic = deviceTopics(opts.config.topicPrefix, opts.deviceId).predictions;
    this.budget = recordBudget(opts.deviceId, opts.config.batch.maxBytes);
    const random = opts.random ? { random: opts.random } : {};
    this.retry = new Backoff({ ...opts.config.reconnect, ...random });
    this.connection = new BrokerConnection({
      config: opts.config,
      identity: this.identity,
      events: opts.events,
      log: opts.log,
      clock: this.clock,
      ...(opts.connect ? { connect: opts.connect } : {}),
      ...random,
    });
    this.subscriptions = new Subscriptions(this.log);
    this.connection.onSession((session) => this.subscriptions.attach(session));
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
    this.doorbell.ring();
  }

  /** Resolves without waiting for the broker: the agent must run, and buffer, while it is away. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.sending || this.stopping) return;
    clientOptions(this.opts.config, this.identity, this.clock.now()); // fails fast on unreadable TLS files
    this.connection.run(signal);
    this.sending = this.sendLoop().catch((err: unknown) => this.log.error({ err }, 'send loop failed'));
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
    this.drain.abort();
    if (this.sending) {
      const pending = this.opts.outbox.pendingCount();
      if (pending > 0 && this.connected) this.log.info({ pending }, 'flushing the outbox before stopping');
      await Promise.race([this.sending, aborted(flushEnd)]);
    }
    // Whatever is still in flight stays unsent in SQLite and goes at the next start.
    this.halt.abort();
    await this.sending;
    await this.connection.close(goodbyeMs);
  }

  private async sendLoop(): Promise<void> {
    const halt = this.halt.signal;
    const idle = AbortSignal.any([halt, this.drain.signal]);
    while (!halt.aborted) {
      const session = this.drain.signal.aborted ? this.connection.session : await this.connection.waitForSession(idle);
      if (!session) {
        if (this.drain.signal.aborted) return;
        continue;
      }
      const ends = this.endsOf(session);
      const rung = this.doorbell.count;
      try {
        const rows = await this.fillBatch(ends);
        if (rows.length === 0) {
          if (this.drain.signal.aborted) return;
          await this.doorbell.wait(rung, undefined, ends);
          continue;
        }
        await this.publish(session, rows);
        this.markSent(rows);
        this.retry.reset();
        this.refusing = false;
      } catch (err) {
        if (!session.open || halt.aborted) continue; // the next session resends the same rows
        this.onFailure(err);
        if (this.drain.signal.aborted) return;
        await sleep(this.retry.next(), ends);
      }
    }
  }

  /**
   * Aborts when the session closes, the sync halts, or draining starts. Built once per
   * session rather than per batch: AbortSignal.any keeps a reference in its long-lived sources.
   */
  private endsOf(session: BrokerSession): AbortSignal {
    if (this.scope?.session !== session) {
      this.scope = { session, ends: AbortSignal.any([this.halt.signal, this.drain.signal, session.closed]) };
    }
    return this.scope.ends;
  }

  /** The next batch, after lingering for stragglers when it is short and nothing else waits. */
  private async fillBatch(ends: AbortSignal): Promise<PredictionRecord[]> {
    const { maxCount, lingerMs } = this.opts.config.batch;
    const rows = this.opts.outbox.nextBatch(maxCount, this.budget);
    const short = rows.length > 0 && rows.length < maxCount && !this.opts.outbox.pendingAtLeast(rows.length + 1);
    if (!short || lingerMs === 0 || this.drain.signal.aborted) return rows;
    const until = this.clock.monotonic() + lingerMs;
    for (;;) {
      const left = until - this.clock.monotonic();
      if (left <= 0) break;
      const rung = await this.doorbell.wait(this.doorbell.count, left, ends);
      if (!rung || this.opts.outbox.pendingAtLeast(maxCount)) break;
    }
    return this.opts.outbox.nextBatch(maxCount, this.budget);
  }

  private publish(session: BrokerSession, rows: PredictionRecord[]): Promise<void> {
    const batch = toBatch(this.opts.deviceId, rows, this.clock.now());
    const ackTimeoutMs = this.opts.ackTimeoutMs ?? Math.max(10_000, this.opts.config.keepaliveS * 2000);
    const gone = [this.halt.signal, session.closed];
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer);
        for (const s of gone) s.removeEventListener('abort', onGone);
        if (err) reject(err);
        else resolve();
      };
      const onGone = () => finish(new AgentError('E_BROKER_DISCONNECTED', `connection lost before batch ${batch.batchId} was acknowledged`, { retryable: true }));
      const timer = setTimeout(() => {
        // A connection that swallows acks is as good as dead; a fresh one resends.
        this.log.warn({ batchId: batch.batchId, ackTimeoutMs }, 'no PUBACK in time; reconnecting');
        session.client.end(true);
      }, ackTimeoutMs);
      if (gone.some((s) => s.aborted)) return onGone();
      for (const s of gone) s.addEventListener('abort', onGone, { once: true });
      session.client.publish(this.topic, JSON.stringify(batch), { qos: 1 }, (err) => {
        if (!err) return finish();
        finish(new AgentError('E_BATCH_REFUSED', `broker refused batch ${batch.batchId}: ${errorMessage(err)}`, { retryable: true, cause: err }));
      });
    });
  }

  private onFailure(err: unknown): void {
    this.log.warn({ err }, `batch not delivered: ${errorMessage(err)}`);
    if (!(err instanceof AgentError) || err.code !== 'E_BATCH_REFUSED' || this.refusing) return;
    // Once per streak: a broker refusing (ACL, quota) would otherwise fill the audit trail.
    this.refusing = true;
    this.opts.events.record({ level: 'error', kind: 'batch_refused', source: this.name, message: err.message });
  }

  private markSent(rows: PredictionRecord[]): void {
    const first = rows[0]?.seq ?? 0;
    const last = rows.at(-1)?.seq ?? 0;
    const at = this.clock.now();
    try {
      this.opts.outbox.markSent(first, last, at);
    } catch (err) {
      // Delivered but not recorded: the rows go again under the same batch id, central drops them.
      this.opts.events.record({ level: 'error', kind: 'store_write_failed', source: this.name, message: `could not mark ${first}..${last} sent: ${errorMessage(err)}` });
      throw err;
    }
    this.stats.batchesAcked++;
    this.stats.predictionsAcked += rows.length;
    this.stats.lastAckAt = at;
    this.log.debug({ first, last, count: rows.length }, 'batch acknowledged');
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
