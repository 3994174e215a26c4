// Before mqtt-packet loads, so that it keeps packet lengths in a block of their own (see the module).
import '../../protocol/mqtt-length-cache.js';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { topicMatches } from '../../agent/sync/subscriptions.js';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { tlsClientOptions } from '../../agent/sync/client-options.js';

/*
 * The one MQTT connection an ops command (publish, rollout, rollback, fleet) holds while it
 * runs. These commands work on retained messages: they read what the broker holds, decide,
 * and publish retained QoS 1 messages back. Clean sessions: nothing must be queued for an
 * operator's laptop between runs.
 */

/** TLS files as paths to PEM files, the way `edgectl ingest` takes them. */
export interface BrokerTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
}

export interface BrokerConnectOptions {
  url: string;
  protocolVersion: 5 | 4;
  clientId: string;
  username?: string;
  password?: string;
  tls?: BrokerTls;
  log: Logger;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** A publish not acknowledged within this long fails (default 60 s). */
  publishTimeoutMs?: number;
}

/** One retained message as the broker holds it. */
export interface RetainedMessage {
  topic: string;
  payload: Buffer;
}

export interface ReadRetainedOptions {
  /** Stop this long after the last retained message (or the SUBACK when none came); default 300 ms. */
  quietMs?: number;
  /** Stop after this long whatever arrives; default 10 s. */
  maxMs?: number;
}

type Listener = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

/** CONNACK codes (3.1.1 and 5) for bad credentials and refused authorisation. */
const REFUSED_FOR_GOOD = new Set([4, 5, 134, 135]);

/** A connected ops client; build one with `BrokerClient.connect`. */
export class BrokerClient {
  private readonly listeners = new Set<{ filters: string[]; fn: Listener }>();
  /** Subscribers per filter: a read must not unsubscribe a filter a watch still needs. */
  private readonly filterUsers = new Map<string, number>();
  private closed = false;

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: BrokerConnectOptions,
  ) {
    client.on('message', (topic, payload, packet) => {
      for (const l of [...this.listeners]) {
        if (!l.filters.some((f) => topicMatches(f, topic))) continue;
        try {
          l.fn(topic, payload, packet);
        } catch (err) {
          // A handler's bug must not take the connection down with it.
          opts.log.error({ err, topic }, 'message handler failed');
        }
      }
    });
  }

  /** Connects, or throws AgentError E_BROKER_CONNECT (retryable) naming the last error seen. */
  static async connect(opts: BrokerConnectOptions): Promise<BrokerClient> {
    const client = connect(opts.url, clientOptions(opts));
    const log = opts.log.child({ component: 'mqtt' });
    let lastError: Error | undefined;
    let up = false;
    // Before the first connection the final error line says it all; afterwards a loss is news.
    client.on('error', (err) => {
      lastError = err;
      if (up) log.warn({ err }, `mqtt: ${err.message}`);
      else log.debug({ err }, `mqtt: ${err.message}`);
    });
    client.on('offline', () => up && log.warn({ url: opts.url }, 'broker connection lost; reconnecting'));
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    let refused = false;
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      // Refused credentials do not get better by retrying for ten seconds.
      client.on('error', (err) => {
        if (REFUSED_FOR_GOOD.has((err as { code?: unknown }).code as number)) {
          refused = true;
          clearTimeout(timer);
          resolve(false);
        }
      });
    });
    if (!connected) {
      client.end(true);
      const why = lastError ? errorMessage(lastError) : 'no answer';
      const when = refused ? '' : ` within ${timeoutMs} ms`;
      throw new AgentError('E_BROKER_CONNECT', `cannot connect to ${opts.url}${when}: ${why}`, { retryable: !refused });
    }
    up = true;
    return new BrokerClient(client, opts);
  }

  /**
   * The retained messages on `filters`, the latest per topic; empty payloads (cleared
   * retained messages) are left out. The broker sends retained messages right after the
   * SUBACK, so silence for quietMs means it has sent them all.
   */
  async readRetained(filters: string[], opts: ReadRetainedOptions = {}): Promise<RetainedMessage[]> {
    const quietMs = opts.quietMs ?? 300;
    const found = new Map<string, Buffer>();
    let poke: () => void = () => undefined;
    const stop = await this.watch(filters, (topic, payload, retained) => {
      if (!retained) return;
      if (payload.length === 0) found.delete(topic);
      else found.set(topic, payload);
      poke();
    });
    try {
      await new Promise<void>((resolve) => {
        let quiet: NodeJS.Timeout | undefined;
        const finish = () => {
          clearTimeout(quiet);
          clearTimeout(hardStop);
          poke = () => undefined;
          resolve();
        };
        const hardStop = setTimeout(finish, opts.maxMs ?? 10_000);
        poke = () => {
          clearTimeout(quiet);
          quiet = setTimeout(finish, quietMs);
        };
        poke();
      });
    } finally {
      await stop();
    }
    return [...found].map(([topic, payload]) => ({ topic, payload }));
  }

  /** The retained message on one topic, if the broker holds one. */
  async readOne(topic: string, opts: ReadRetainedOptions = {}): Promise<Buffer | undefined> {
    return (await this.readRetained([topic], opts)).find((m) => m.topic === topic)?.payload;
  }

  /**
   * Calls onMessage for every message on filters (retained first, then live) until the
   * returned function is called. Resolves once the broker granted the subscription.
   */
  async watch(filters: string[], onMessage: (topic: string, payload: Buffer, retained: boolean) => void): Promise<() => Promise<void>> {
    const listener = { filters, fn: (topic: string, payload: Buffer, packet: IPublishPacket) => onMessage(topic, payload, packet.retain) };
    this.listeners.add(listener);
    const fresh = filters.filter((f) => (this.filterUsers.get(f) ?? 0) === 0);
    for (const f of filters) this.filterUsers.set(f, (this.filterUsers.get(f) ?? 0) + 1);
    try {
      // A filter already subscribed is subscribed again anyway: that makes the broker resend its retained messages.
      const granted = await this.client.subscribeAsync(filters, { qos: 1 });
      const refused = granted.filter((g) => g.qos > 2).map((g) => g.topic);
      if (refused.length > 0) throw new AgentError('E_BROKER_SUBSCRIBE', `the broker refused the subscription to ${refused.join(', ')} (ACL?)`);
    } catch (err) {
      await this.release(listener, filters);
      if (err instanceof AgentError) throw err;
      throw new AgentError('E_BROKER_SUBSCRIBE', `cannot subscribe to ${filters.join(', ')}: ${errorMessage(err)}`, { retryable: true, cause: err });
    }
    this.opts.log.debug({ filters, fresh }, 'subscribed');
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.release(listener, filters);
    };
  }

  /** Publishes a retained QoS 1 message and resolves on the broker's acknowledgement. */
  async publishRetained(topic: string, payload: Buffer | string): Promise<void> {
    const timeoutMs = this.opts.publishTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AgentError('E_BROKER_PUBLISH', `the broker did not acknowledge ${topic} within ${timeoutMs} ms`, { retryable: true })), timeoutMs);
    });
    try {
      await Promise.race([this.client.publishAsync(topic, payload, { qos: 1, retain: true }), late]);
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new AgentError('E_BROKER_PUBLISH', `cannot publish ${topic}: ${errorMessage(err)}`, { retryable: true, cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Disconnects cleanly, or drops the socket when the broker does not answer within 2 s. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const timer = setTimeout(() => this.client.end(true), 2000);
    await this.client.endAsync().catch((err: unknown) => this.opts.log.warn({ err }, 'mqtt end failed'));
    clearTimeout(timer);
  }

  private async release(listener: { filters: string[]; fn: Listener }, filters: string[]): Promise<void> {
    this.listeners.delete(listener);
    const unused: string[] = [];
    for (const f of filters) {
      const users = (this.filterUsers.get(f) ?? 1) - 1;
      if (users > 0) this.filterUsers.set(f, users);
      else {
        this.filterUsers.delete(f);
        unused.push(f);
      }
    }
    if (unused.length === 0 || this.closed || !this.client.connected) return;
    await this.client.unsubscribeAsync(unused).catch((err: unknown) => this.opts.log.debug({ err }, 'unsubscribe failed'));
  }
}

function clientOptions(opts: BrokerConnectOptions): IClientOptions {
  const options: IClientOptions = {
    protocolVersion: opts.protocolVersion,
    clientId: opts.clientId,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    // Subscriptions are renewed on reconnect, and the broker resends the retained messages with them.
    resubscribe: true,
  };
  if (opts.username !== undefined) options.username = opts.username;
  if (opts.password !== undefined) options.password = opts.password;
  if (opts.tls) Object.assign(options, tlsClientOptions(opts.tls, 'tls '));
  return options;
}
