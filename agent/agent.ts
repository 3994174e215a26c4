import type { Logger } from 'pino';
import { Store } from './buffer/store.js';
import { OutboxWriter } from './buffer/outbox-writer.js';
import { type Clock, systemClock } from './clock.js';
import type { AgentConfig, SourceConfig } from './config/schema.js';
import { Counters } from './counters.js';
import type { EventSink } from './events.js';
import { ModelSet } from './inference/model-set.js';
import type { Component } from './lifecycle/component.js';
import { Supervisor } from './lifecycle/supervisor.js';
import { FrameQueue } from './pipeline/frame-queue.js';
import { ImagePipeline, type Route } from './pipeline/image-pipeline.js';
import { FolderSource } from './sources/camera/folder.js';
import { SyntheticSource } from './sources/camera/synthetic.js';
import { StatusServer } from './status/server.js';
import type { StatusSnapshot } from './status/snapshot.js';
import { MqttSync } from './sync/mqtt-sync.js';
import { AGENT_VERSION } from './version.js';

export interface AgentOptions {
  config: AgentConfig;
  /** Folder that relative paths in the config are resolved against. */
  baseDir: string;
  log: Logger;
  clock?: Clock;
}

/** One running agent: every component built from the config, started and stopped in order. */
export class Agent {
  readonly counters = new Counters();
  readonly store: Store;
  readonly sync: MqttSync;
  readonly status: StatusServer | undefined;
  private readonly supervisor: Supervisor;
  private readonly startedAt: number;

  private constructor(
    private readonly opts: AgentOptions & { clock: Clock },
    models: ModelSet,
  ) {
    const { config, log, clock } = opts;
    this.startedAt = clock.monotonic();
    this.store = new Store({ config: config.buffer, log, clock });
    const events = this.store.events;
    this.sync = new MqttSync({
      deviceId: config.deviceId,
      site: config.site,
      agentVersion: AGENT_VERSION,
      config: config.broker,
      outbox: this.store.outbox,
      events,
      log,
      clock,
      // The sync gets most of the stop deadline: flushing the outbox is what matters at stop.
      stopDeadlineMs: Math.max(500, config.shutdown.deadlineMs * 0.6),
    });
    const writer = new OutboxWriter({
      outbox: this.store.outbox,
      events,
      log,
      batchSize: config.buffer.batchSize,
      lingerMs: config.buffer.lingerMs,
      clock,
      onCommit: () => this.sync.wake(),
    });
    const routes: Route[] = [];
    const sources = config.sources.map((source) => {
      const queue = new FrameQueue(config.pipeline.queueSize, () => this.counters.dropped++);
      routes.push({ source: source.id, queue, models: models.pick(source.models) });
      return this.buildSource(source, queue, events);
    });
    const pipeline = new ImagePipeline({
      routes,
      sink: writer,
      events,
      counters: this.counters,
      clock,
      log: log.child({ component: 'pipeline' }),
      concurrency: config.pipeline.concurrency,
    });
    this.status = config.status.enabled
      ? new StatusServer({ host: config.status.host, port: config.status.port, snapshot: () => this.snapshot(), log: log.child({ component: 'status' }) })
      : undefined;
    // Downstream first: the store and the sync are ready before any frame arrives, and
    // at stop the sources go quiet first so every stage drains into the next.
    const order: Component[] = [this.store, ...(this.status ? [this.status] : []), models, this.sync, writer, pipeline, ...sources];
    this.supervisor = new Supervisor(order, log.child({ component: 'supervisor' }));
  }

  /** Builds the agent; loading the models first so a bad model is refused before anything starts. */
  static async create(opts: AgentOptions): Promise<Agent> {
    const clock = opts.clock ?? systemClock;
    const models = await ModelSet.load(opts.config.models, opts.baseDir, opts.log);
    try {
      return new Agent({ ...opts, clock }, models);
    } catch (err) {
      await models.stop();
      throw err;
    }
  }

  get config(): AgentConfig {
    return this.opts.config;
  }

  async start(): Promise<void> {
    await this.supervisor.start();
    this.store.events.record({ level: 'info', kind: 'agent_started', message: `agent ${AGENT_VERSION} started`, detail: { version: AGENT_VERSION } });
  }

  /** Graceful stop within the configured deadline: sources, pipeline, outbox, sync, store. */
  async stop(): Promise<void> {
    await this.supervisor.stop(this.opts.config.shutdown.deadlineMs);
  }

  snapshot(): StatusSnapshot {
    const { config, clock } = this.opts;
    const outbox = this.store.outbox;
    return {
      device: config.deviceId,
      site: config.site,
      agentVersion: AGENT_VERSION,
      uptimeS: Math.round((clock.monotonic() - this.startedAt) / 1000),
      models: config.models.map((m) => ({ name: m.name, version: m.version })),
      sources: config.sources.map((s) => ({ id: s.id, type: s.type })),
      counters: { ...this.counters },
      outbox: { pending: outbox.pendingCount(), oldestPendingTs: outbox.oldestPendingTs() ?? null },
      broker: { connected: this.sync.connected, url: withoutCredentials(config.broker.url) },
    };
  }

  private buildSource(source: SourceConfig, queue: FrameQueue, events: EventSink): Component {
    const { log, clock } = this.opts;
    const child = log.child({ component: `source:${source.id}` });
    switch (source.type) {
      case 'folder':
        return new FolderSource({ config: source, queue, events, counters: this.counters, log: child, clock });
      case 'synthetic':
        return new SyntheticSource({ config: source, queue, counters: this.counters, log: child, clock });
    }
  }
}

/** A broker URL as it may be shown: user and password removed. */
function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}
