import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { OpcuaServerConfig, TagConfig } from '../../config/sensor-schema.js';
import { errorMessage } from '../../errors.js';
import type { EventSink } from '../../events.js';
import type { TagBoard } from '../../features/tag-board.js';
import { Backoff, sleep } from '../../lifecycle/backoff.js';
import { userIdentity } from './identity.js';
import { listCertificates, type ClientPki } from './pki.js';
import { overflowed, sampleOf } from './tag-reading.js';

export type LinkState = 'connecting' | 'connected' | 'disconnected' | 'refused' | 'stopped';

/** One server's connection as the status page shows it. */
export interface LinkStatus {
  id: string;
  endpoint: string;
  securityMode: string;
  securityPolicy: string;
  state: LinkState;
  /** Wall ms of the last state change. */
  changedTs: number;
  lastError: string | null;
  /** Sessions established since start; more than one means it reconnected. */
  sessions: number;
  /** Notifications whose status said the server's queue overflowed (samples lost there). */
  overflows: number;
}

export interface OpcuaLinkOptions {
  config: OpcuaServerConfig;
  pki: ClientPki;
  applicationName: string;
  baseDir: string;
  board: TagBoard;
  events: EventSink;
  log: Logger;
  clock: Clock;
  /** The command an operator runs to trust a rejected server certificate. */
  trustHint: string;
}

interface Live {
  client: OPCUAClient;
  session?: ClientSession;
  subscription?: ClientSubscription;
}

/**
 * One OPC-UA server: a session, one subscription, the tags as monitored items. A break of
 * any kind (closed channel, dead subscription, missed keep-alives) tears everything down,
 * marks every tag with a gap and builds it all again after a jittered backoff; samples the
 * new subscription repeats are dropped by the tag board, so nothing is counted twice.
 */
export class OpcuaLink {
  private live: Live | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  /** The rejected certificate last reported, so a server retried every few seconds is reported once. */
  private reportedRejection: string | undefined;
  /** Tags whose values were refused once already: reported once, marked Bad every time. */
  private readonly refusedTags = new Set<string>();
  readonly status: LinkStatus;

  constructor(private readonly o: OpcuaLinkOptions) {
    const c = o.config;
    for (const t of c.tags) o.board.addTag(t.name, c.id);
    this.status = { id: c.id, endpoint: c.endpoint, securityMode: c.securityMode, securityPolicy: c.securityPolicy, state: 'connecting', changedTs: o.clock.now(), lastError: null, sessions: 0, overflows: 0 };
  }

  /** Starts connecting in the background: a missing server never holds up the agent's start. */
  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    this.setState('stopped', null);
  }

  /** The open session, for writes; undefined while disconnected. */
  get session(): ClientSession | undefined {
    return this.live?.session;
  }

  private setState(state: LinkState, error: string | null): void {
    if (this.status.state !== state) this.status.changedTs = this.o.clock.now();
    this.status.state = state;
    if (error !== null || state === 'connected') this.status.lastError = error;
  }

  private async run(): Promise<void> {
    const { reconnect } = this.o.config;
    const backoff = new Backoff({ minMs: reconnect.minMs, maxMs: reconnect.maxMs });
    while (!this.stopped) {
      const broken = new Promise<string>((resolve) => (this.wake = () => resolve('stopping')));
      let reason: string;
      try {
        reason = await this.connect(broken);
        backoff.reset();
      } catch (err) {
        reason = errorMessage(err);
        if (!this.stopped) this.refusedOrFailed(err);
      }
      await this.teardown(reason);
      if (this.stopped) return;
      await sleep(backoff.next(), this.abort.signal);
    }
  }

  /** Connects and serves until the link breaks; resolves with why it broke. */
  private async connect(stopping: Promise<string>): Promise<string> {
    const { config, pki, clock, board, log } = this.o;
    if (this.status.state === 'refused') await pki.reload();
    this.setState('connecting', null);
    let lost!: (why: string) => void;
    const broken = new Promise<string>((resolve) => (lost = resolve));
    // A server that never answers must not hold up the agent's stop.
    const unlessStopped = <T>(step: Promise<T>) => Promise.race([step, stopping.then(() => Promise.reject(new Error('stopping')))]);
    const client = OPCUAClient.create({
      applicationName: this.o.applicationName,
      applicationUri: pki.applicationUri,
      securityMode: MessageSecurityMode[config.securityMode],
      securityPolicy: SecurityPolicy[config.securityPolicy],
      clientCertificateManager: pki.manager,
      certificateFile: pki.certificateFile,
      privateKeyFile: pki.privateKeyFile,
      endpointMustExist: false,
      keepSessionAlive: true,
      requestedSessionTimeout: config.sessionTimeoutMs,
      // Reconnection is ours (see the class comment): the client gives up at the first failure.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 1000 },
    });
    client.on('connection_lost', () => lost('connection lost'));
    client.on('close', () => lost('connection closed'));
    this.live = { client };
    await unlessStopped(client.connect(config.endpoint));
    const session = await unlessStopped(client.createSession(userIdentity(config.identity, this.o.baseDir)));
    this.live.session = session;
    session.on('session_closed', () => lost('session closed by the server'));
    session.on('keepalive_failure', () => lost('session keep-alive failed'));
    const subscription = await unlessStopped(session.createSubscription2({
      requestedPublishingInterval: config.publishingIntervalMs,
      requestedLifetimeCount: config.lifetimeCount,
      requestedMaxKeepAliveCount: config.maxKeepAliveCount,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 10,
    }));
    this.live.subscription = subscription;
    subscription.on('keepalive', () => board.confirm(config.id, clock.monotonic()));
    subscription.on('terminated', () => lost('subscription terminated'));
    subscription.on('status_changed', (s) => lost(`subscription status ${s.name}`));
    await unlessStopped(this.monitor(subscription));
    this.status.sessions++;
    board.confirm(config.id, clock.monotonic());
    this.setState('connected', null);
    log.info({ endpoint: config.endpoint, securityMode: config.securityMode, securityPolicy: config.securityPolicy, tags: config.tags.length }, 'OPC-UA connected');
    this.o.events.record({ level: 'info', kind: 'opcua_connected', source: config.id, message: `connected to ${config.endpoint} (${config.securityMode}, ${config.securityPolicy})`, detail: { sessions: this.status.sessions } });
    const watchdog = this.watchdog(lost);
    try {
      return await Promise.race([broken, stopping]);
    } finally {
      clearInterval(watchdog);
    }
  }

  /** Tags grouped by identical monitoring parameters, one monitored-item group each. */
  private async monitor(subscription: ClientSubscription): Promise<void> {
    const { config, board, clock, events } = this.o;
    const groups = new Map<string, TagConfig[]>();
    for (const t of config.tags) {
      const key = JSON.stringify([t.samplingMs, t.queueSize, t.deadband, t.trigger]);
      groups.set(key, [...(groups.get(key) ?? []), t]);
    }
    for (const tags of groups.values()) {
      const t0 = tags[0]!;
      const deadbandType = t0.deadband ? (t0.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent) : DeadbandType.None;
      const group = ClientMonitoredItemGroup.create(
        subscription,
        tags.map((t) => ({ nodeId: t.nodeId, attributeId: AttributeIds.Value })),
        {
          samplingInterval: t0.samplingMs,
          queueSize: t0.queueSize,
          discardOldest: true,
          filter: new DataChangeFilter({ trigger: DataChangeTrigger[t0.trigger], deadbandType, deadbandValue: t0.deadband?.value ?? 0 }),
        },
        TimestampsToReturn.Both,
      );
      group.on('changed', (_item: unknown, dv: DataValue, index: number) => {
        const tag = tags[index];
        if (!tag) return;
        const at = clock.monotonic();
        board.confirm(config.id, at);
        if (overflowed(dv)) this.status.overflows++;
        const { sample, refused } = sampleOf(tag.name, dv, clock.now(), at);
        if (refused && !this.refusedTags.has(tag.name)) {
          this.refusedTags.add(tag.name);
          events.record({ level: 'error', kind: 'opcua_value_refused', source: config.id, message: `tag ${tag.name} (${tag.nodeId}) sent ${refused}; marked BadTypeMismatch`, detail: { tag: tag.name, nodeId: tag.nodeId, reason: refused } });
        }
        board.push(sample);
      });
      await new Promise<void>((resolve, reject) => {
        group.once('initialized', () => resolve());
        group.once('err', (message: string) => reject(new Error(message)));
      });
      group.monitoredItems.forEach((item, i) => {
        const tag = tags[i]!;
        if (item.statusCode.isGood()) return;
        board.push({ tag: tag.name, value: null, quality: 'bad', status: item.statusCode.name, sourceTs: clock.now(), receivedAt: clock.monotonic() });
        events.record({ level: 'error', kind: 'opcua_tag_error', source: config.id, message: `tag ${tag.name} (${tag.nodeId}) cannot be monitored: ${item.statusCode.name}`, detail: { tag: tag.name, nodeId: tag.nodeId, status: item.statusCode.name } });
      });
    }
  }

  /** Keep-alives arrive every maxKeepAliveCount publishing intervals; three missed ones mean a dead link. */
  private watchdog(lost: (why: string) => void): NodeJS.Timeout {
    const { config, board, clock } = this.o;
    const limit = 3 * config.maxKeepAliveCount * config.publishingIntervalMs + 1000;
    return setInterval(() => {
      const at = board.links.get(config.id)?.confirmedAt;
      if (at !== undefined && clock.monotonic() - at > limit) lost(`no notification or keep-alive for ${Math.round(limit)} ms`);
    }, Math.min(1000, limit)).unref();
  }

  /** SHA-1 of the certificate the server presented, when the client got that far. */
  private presentedThumbprint(): string | undefined {
    const cert = this.live?.client.serverCertificate;
    const der = Array.isArray(cert) ? cert[0] : cert;
    return der ? createHash('sha1').update(der).digest('hex') : undefined;
  }

  private refusedOrFailed(err: unknown): void {
    const { config, pki, log, events } = this.o;
    const message = errorMessage(err);
    if (/certificate/i.test(message) || /BadCertificate|BadSecurityChecksFailed/.test(message)) {
      // Several servers share the PKI: the one filed for this server has its thumbprint.
      const presented = this.presentedThumbprint();
      const rejected = listCertificates(pki.rejectedDir);
      const newest = rejected.find((c) => c.thumbprint === presented) ?? (presented === undefined ? rejected.at(-1) : undefined);
      this.setState('refused', newest ? `untrusted server certificate ${basename(newest.file)}` : message);
      if (newest && this.reportedRejection !== newest.thumbprint) {
        this.reportedRejection = newest.thumbprint;
        log.error(
          { endpoint: config.endpoint, certificate: newest.file },
          `OPC-UA server "${config.id}" (${config.endpoint}) presented an untrusted certificate (${newest.subject}, SHA-1 ${newest.thumbprint}), filed as ${newest.file}; to trust it run: ${this.o.trustHint} ${newest.thumbprint.slice(0, 16)}`,
        );
        events.record({ level: 'error', kind: 'opcua_certificate_rejected', source: config.id, message: `untrusted server certificate ${basename(newest.file)} (${newest.subject})`, detail: { file: newest.file, thumbprint: newest.thumbprint, subject: newest.subject } });
      }
      return;
    }
    this.reportedRejection = undefined;
    if (this.status.lastError !== message) {
      log.warn({ endpoint: config.endpoint, err: message }, 'OPC-UA connection failed');
      events.record({ level: 'warn', kind: 'opcua_connect_failed', source: config.id, message: `${config.endpoint}: ${message}` });
    }
    this.setState('disconnected', message);
  }

  private async teardown(reason: string): Promise<void> {
    const { config, board, clock, log, events } = this.o;
    const live = this.live;
    this.live = undefined;
    const wasConnected = this.status.state === 'connected';
    board.lost(config.id, clock.now(), clock.monotonic());
    if (wasConnected && !this.stopped) {
      log.warn({ endpoint: config.endpoint, reason }, 'OPC-UA link lost; tags marked bad until it is back');
      events.record({ level: 'warn', kind: 'opcua_disconnected', source: config.id, message: `${config.endpoint}: ${reason}` });
      this.setState('disconnected', reason);
    }
    if (!live) return;
    const quietly = <T>(p: Promise<T> | undefined) => p?.then(() => undefined, () => undefined);
    live.client.removeAllListeners();
    await Promise.race([
      (async () => {
        await quietly(live.subscription?.terminate());
        await quietly(live.session?.close(true));
        await quietly(live.client.disconnect());
      })(),
      sleep(2000),
    ]);
  }
}
