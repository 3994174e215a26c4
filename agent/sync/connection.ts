// Before mqtt-packet loads, so that it keeps packet lengths in a block of their own (see the module).
import { lengthCacheCompact } from '../../protocol/mqtt-length-cache.js';
import { connect, type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import { Backoff, sleep, whenAborted } from '../lifecycle/backoff.js';
import { deviceTopics } from '../../protocol/topics.js';
import { clientOptions, statusPayload, type DeviceIdentity } from './client-options.js';

/**
 * A session that lasted this long was healthy, so the next loss retries from the shortest
 * delay; shorter ones keep the backoff growing, so a broker that accepts and then drops us
 * (a duplicate client id, an ACL) is not hammered twice a second.
 */
const HEALTHY_SESSION_MS = 5000;

/** Opens an MQTT.js client; injectable so tests can reach the socket. */
export type ConnectFn = (url: string, options: IClientOptions) => MqttClient;

/** One established connection. A new one is made for every reconnect, so no state leaks across. */
export class BrokerSession {
  private readonly ended = new AbortController();
  /** Aborts when this connection is gone for good. */
  readonly closed = this.ended.signal;

  constructor(readonly client: MqttClient) {
    client.once('close', () => this.ended.abort());
  }

  get open(): boolean {
    return !this.closed.aborted;
  }
}

export interface BrokerConnectionOptions {
  config: BrokerConfig;
  identity: DeviceIdentity;
  events: EventSink;
  log: Logger;
  clock: Clock;
  connect?: ConnectFn;
  /** Random source for the backoff jitter. */
  random?: () => number;
  /** How the connection announces itself; the device's retained status when absent. */
  presence?: Presence;
}

/**
 * What a connection says about itself: its will and options per attempt, a hello on every
 * session and a goodbye before a clean disconnect. The agent's link uses the retained
 * status topic; the Sparkplug B node uses NBIRTH/NDEATH.
 */
export interface Presence {
  /** Events and logs name the connection by this. */
  readonly source: string;
  options(base: IClientOptions): IClientOptions;
  hello(session: BrokerSession): void;
  goodbye(session: BrokerSession, signal: AbortSignal): Promise<void>;
}

/**
 * Keeps one MQTT session up: connects, announces the device online (the broker announces
 * it offline through the last will), and after a loss reconnects with jittered backoff.
 * Events are recorded once per change of state, not once per attempt.
 */
export class BrokerConnection {
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly reconnecting = new AbortController();
  private readonly waiters = new Set<(s: BrokerSession) => void>();
  private readonly sessionListeners: Array<(s: BrokerSession) => void> = [];
  private current: BrokerSession | undefined;
  private running: Promise<void> | undefined;
  private everConnected = false;
  /** MQTT 5 unless the broker refused it: then 3.1.1 for the rest of the process. */
  private protocolVersion: 5 | 4;
  private readonly presence: Presence;

  constructor(private readonly opts: BrokerConnectionOptions) {
    this.log = opts.log.child({ component: 'broker' });
    const { minMs, maxMs } = opts.config.reconnect;
    this.backoff = new Backoff({ minMs, maxMs, ...(opts.random ? { random: opts.random } : {}) });
    this.protocolVersion = opts.config.protocolVersion;
    this.presence = opts.presence ?? statusPresence(opts.config, opts.identity, opts.clock, this.log);
  }

  get connected(): boolean {
    return this.current?.open ?? false;
  }

  /** The live session, if any. */
  get session(): BrokerSession | undefined {
    return this.current?.open ? this.current : undefined;
  }

  /** Starts connecting in the background; aborting `signal` stops new attempts, not the live session. */
  run(signal: AbortSignal): void {
    if (this.running) return;
    if (!lengthCacheCompact) this.log.warn('mqtt-packet loaded before protocol/mqtt-length-cache.ts: each new packet length it caches keeps an 8 KiB buffer pool block');
    const stop = AbortSignal.any([signal, this.reconnecting.signal]);
    this.running = this.loop(stop).catch((err: unknown) => this.log.error({ err }, 'connection loop failed'));
  }

  /** Calls `listener` with every new session (and the live one, if any), e.g. to subscribe or republish. */
  onSession(listener: (s: BrokerSession) => void): void {
    this.sessionListeners.push(listener);
    if (this.session) listener(this.session);
  }

  /** Stops making new connections; the live session stays until `close`. */
  stopReconnecting(): void {
    this.reconnecting.abort();
  }

  /** The live session, or the next one; undefined once `signal` aborts. */
  waitForSession(signal: AbortSignal): Promise<BrokerSession | undefined> {
    const live = this.session;
    if (live || signal.aborted) return Promise.resolve(live);
    return new Promise((resolve) => {
      const onSession = (s: BrokerSession) => {
        signal.removeEventListener('abort', onAbort);
        resolve(s);
      };
      const onAbort = () => {
        this.waiters.delete(onSession);
        resolve(undefined);
      };
      this.waiters.add(onSession);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Announces offline (retained), then disconnects cleanly so the broker does not fire the will. */
  async close(timeoutMs: number): Promise<void> {
    this.stopReconnecting();
    await this.running;
    const session = this.current;
    this.current = undefined;
    if (!session) return;
    if (!session.open) return this.onLost('connection closed while stopping');
    const { client } = session;
    const timeout = AbortSignal.timeout(Math.max(timeoutMs, 1));
    try {
      await untilAborted(AbortSignal.any([timeout, session.closed]), this.presence.goodbye(session, timeout));
      await untilAborted(timeout, client.endAsync(false));
    } catch (err) {
      this.log.warn({ err }, 'could not say goodbye to the broker');
    } finally {
      if (session.open) client.end(true);
    }
    this.log.info('disconnected from the broker');
    this.opts.events.record({ level: 'info', kind: 'broker_disconnected', source: this.presence.source, message: 'disconnected from the broker: agent stopping', detail: { reason: 'stopping' } });
  }

  private async loop(stop: AbortSignal): Promise<void> {
    let failures = 0;
    let lastError = '';
    while (!stop.aborted) {
      lastError = '';
      let client: MqttClient;
      try {
        client = this.open(stop);
      } catch (err) {
        // A TLS file gone missing or a bad URL must not end the retrying for good.
        this.log.error({ err }, `cannot open a connection: ${errorMessage(err)}`);
        await sleep(this.backoff.next(), stop);
        continue;
      }
      client.on('error', (err) => {
        lastError = errorMessage(err);
        this.log.debug({ err }, 'mqtt client error');
      });
      const connack = await firstOf(client, stop);
      if (connack) {
        failures = 0;
        const since = this.opts.clock.monotonic();
        const session = new BrokerSession(client);
        let reason = '';
        client.on('disconnect', (packet) => (reason = `broker sent DISCONNECT (reason code ${packet.reasonCode ?? 0})`));
        this.announce(session, connack.sessionPresent);
        await whenAborted(AbortSignal.any([session.closed, stop]));
        if (!session.open) {
          if (this.opts.clock.monotonic() - since >= HEALTHY_SESSION_MS) this.backoff.reset();
          this.current = undefined;
          client.end(true);
          this.onLost(reason || lastError || 'connection closed');
        }
      } else {
        client.end(true);
        if (stop.aborted) return;
        if (this.fallBack(lastError)) continue;
        failures++;
        const message = `cannot reach the broker at ${this.opts.config.url}: ${lastError || 'connection closed'}; retrying with backoff`;
        if (failures === 1) this.log.warn({ attempt: failures }, message);
        else this.log.debug({ attempt: failures }, message);
      }
      if (!stop.aborted) await sleep(this.backoff.next(), stop);
    }
  }

  /** A broker that speaks only MQTT 3.1.1 refuses an MQTT 5 CONNECT; retry at once with 3.1.1. */
  private fallBack(lastError: string): boolean {
    if (this.protocolVersion !== 5 || !/protocol version|unacceptable protocol|unsupported protocol/i.test(lastError)) return false;
    this.protocolVersion = 4;
    const message = `the broker at ${this.opts.config.url} refused MQTT 5 (${lastError}); using MQTT 3.1.1`;
    this.log.warn(message);
    this.opts.events.record({ level: 'warn', kind: 'broker_protocol_fallback', source: 'sync', message, detail: { from: 5, to: 4 } });
    return true;
  }

  /** The protocol version in use: the configured one, or 4 after a fallback. */
  get protocol(): 5 | 4 {
    return this.protocolVersion;
  }

  private open(stop: AbortSignal): MqttClient {
    const options = this.presence.options(clientOptions(this.opts.config, this.opts.identity, this.opts.clock.now(), this.protocolVersion));
    const client = (this.opts.connect ?? connect)(this.opts.config.url, options);
    // An attempt abandoned by stop must not linger as a half-open socket; the live session
    // is left alone, `close` says goodbye on it.
    const abandon = () => {
      if (this.current?.client !== client) client.end(true);
    };
    stop.addEventListener('abort', abandon, { once: true });
    client.once('close', () => stop.removeEventListener('abort', abandon));
    return client;
  }

  private announce(session: BrokerSession, sessionPresent: boolean): void {
    const { config } = this.opts;
    this.current = session;
    this.log.info({ url: config.url, sessionPresent }, 'connected to the broker');
    this.opts.events.record({
      level: 'info',
      kind: 'broker_connected',
      source: this.presence.source,
      message: `connected to ${config.url}${this.everConnected ? ' again' : ''}`,
      detail: { url: config.url, protocolVersion: this.protocolVersion, sessionPresent },
    });
    this.everConnected = true;
    try {
      this.presence.hello(session);
    } catch (err) {
      this.log.error({ err }, 'could not say hello to the broker');
    }
    for (const listener of this.sessionListeners) {
      try {
        listener(session);
      } catch (err) {
        this.log.error({ err }, 'session listener failed');
      }
    }
    for (const wake of [...this.waiters]) wake(session);
    this.waiters.clear();
  }

  private onLost(reason: string): void {
    this.log.warn({ reason }, 'lost the broker connection; reconnecting with backoff');
    this.opts.events.record({ level: 'warn', kind: 'broker_disconnected', source: this.presence.source, message: `disconnected from the broker: ${reason}`, detail: { reason } });
  }
}

/** The agent's presence: `online` retained on every session, `offline` as the will and at a clean stop. */
function statusPresence(config: BrokerConfig, identity: DeviceIdentity, clock: Clock, log: Logger): Presence {
  const topic = deviceTopics(config.topicPrefix, identity.deviceId).status;
  return {
    source: 'sync',
    options: (base) => base,
    hello: (session) => {
      session.client.publish(topic, statusPayload(identity, 'online', clock.now()), { qos: 1, retain: true }, (err) => {
        if (err && session.open) log.warn({ err }, 'could not publish the online status');
      });
    },
    goodbye: async (session) => {
      await session.client.publishAsync(topic, statusPayload(identity, 'offline', clock.now()), { qos: 1, retain: true });
    },
  };
}

/** The CONNACK once the client connected; undefined if it closed first or `stop` aborted. */
function firstOf(client: MqttClient, stop: AbortSignal): Promise<IConnackPacket | undefined> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve(undefined);
    const done = (ok: IConnackPacket | undefined) => {
      client.off('connect', onConnect);
      client.off('close', onClose);
      stop.removeEventListener('abort', onClose);
      resolve(ok);
    };
    const onConnect = (packet: IConnackPacket) => done(packet);
    const onClose = () => done(undefined);
    client.on('connect', onConnect);
    client.on('close', onClose);
    stop.addEventListener('abort', onClose, { once: true });
  });
}


/** Awaits `work`, giving up (with an error) when `signal` aborts first. */
function untilAborted<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('timed out'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('timed out'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
