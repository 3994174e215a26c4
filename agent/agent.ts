import type { Logger } from 'pino';
import { Store } from './buffer/store.js';
import { OutboxWriter } from './buffer/outbox-writer.js';
import { type Clock, systemClock } from './clock.js';
import type { AgentConfig, SourceConfig } from './config/schema.js';
import { Counters } from './counters.js';
import type { EventSink } from './events.js';
import { ModelSet } from './inference/model-set.js';
import { Rollout } from './rollout/rollout.js';
import type { Component } from './lifecycle/component.js';
import { Supervisor } from './lifecycle/supervisor.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { countingSink, tappedEvents, timedModel } from './metrics/instrument.js';
import { FrameQueue } from './pipeline/frame-queue.js';
import { ImagePipeline, type Route } from './pipeline/image-pipeline.js';
import { FolderSource } from './sources/camera/folder.js';
import { SyntheticSource } from './sources/camera/synthetic.js';
import { StatusCollector } from './status/collect.js';
import { createStatusLed, type StatusLed } from './status/led/led.js';
import { StatusServer } from './status/server.js';
import type { AgentPhase, StatusSnapshot } from './status/snapshot.js';
import { actionToken } from './status/token.js';
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
  readonly metrics: AgentMetrics;
  readonly store: Store;
  readonly sync: MqttSync;
  readonly status: StatusServer | undefined;
  readonly led: StatusLed | undefined;
  readonly rollout: Rollout;
  private readonly collector: StatusCollector;
  private readonly supervisor: Supervisor;
  private readonly startedAt: number;
  private phase: AgentPhase = 'starting';
  private runningSince: number | undefined;

  private constructor(
    private readonly opts: AgentOptions & { clock: Clock },
    models: ModelSet,
  ) {
    const { config, log, clock } = opts;
    this.startedAt = clock.monotonic();
    this.metrics = new AgentMetrics(clock);
    this.store = new Store({ config: config.buffer, log, clock });
    // Every component's audit events also feed the health verdict (errors, store, broker).
    const events = tappedEvents(this.store.events, (e) => this.metrics.onEvent(e));
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
      routes.push({ source: source.id, queue, models: models.pick(source.models).map((m) => timedModel(m, this.metrics, clock)) });
      return this.buildSource(source, queue, events);
    });
    const pipeline = new ImagePipeline({
      routes,
      sink: countingSink(writer, this.metrics),
      events,
      counters: this.counters,
      clock,
      log: log.child({ component: 'pipeline' }),
      concurrency: config.pipeline.concurrency,
      onLatency: (ms) => this.metrics.frameCommitted(ms),
    });
    const token = actionToken(config.status, opts.baseDir);
    this.collector = new StatusCollector({
      config,
      clock,
      startedAt: this.startedAt,
      phase: () => this.phase,
      runningSince: () => this.runningSince,
      counters: this.counters,
      metrics: this.metrics,
      models: () => models.models,
      outbox: this.store.outbox,
      sync: this.sync,
      db: this.store.database,
      events: this.store.events,
      actionsEnabled: token !== undefined,
      rollout: () => (config.rollout.enabled ? this.rollout.report : undefined),
    });
    this.status = config.status.enabled
      ? new StatusServer({
          host: config.status.host,
          port: config.status.port,
          api: this.collector,
          token,
          actions: config.rollout.enabled ? { rollback: () => this.rollout.rollback('rolled back by an operator from the status page') } : {},
          log: log.child({ component: 'status' }),
        })
      : undefined;
    this.led = createStatusLed(config.status.led, { read: () => this.collector.ledInputs(), log });
    // Downstream first: the store and the sync are ready before any frame arrives, and
    // at stop the sources go quiet first so every stage drains into the next. The LED
    // comes right after the store so it shows the start and the stop.
    const statusParts: Component[] = [...(this.led ? [this.led] : []), ...(this.status ? [this.status] : [])];
    this.rollout = new Rollout({
      config: config.rollout,
      placement: { id: config.deviceId, site: config.site, ...(config.rollout.group ? { group: config.rollout.group } : {}) },
      topicPrefix: config.broker.topicPrefix,
      db: this.store.database,
      slots: new Map(config.models.map((m) => [m.name, { serving: models.models.get(m.name)!, config: m }])),
      channel: this.sync,
      events,
      clock,
      log,
    });
    const order: Component[] = [this.store, ...statusParts, models, this.sync, this.rollout, writer, pipeline, ...sources];
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
    this.phase = 'running';
    this.runningSince = this.opts.clock.monotonic();
    this.store.events.record({ level: 'info', kind: 'agent_started', message: `agent ${AGENT_VERSION} started`, detail: { version: AGENT_VERSION } });
  }

  /** Graceful stop within the configured deadline: sources, pipeline, outbox, sync, store. */
  async stop(): Promise<void> {
    this.phase = 'stopping';
    await this.supervisor.stop(this.opts.config.shutdown.deadlineMs);
    this.phase = 'stopped';
  }

  /** What the status page shows; see `status/collect.ts`. */
  snapshot(): StatusSnapshot {
    return this.collector.snapshot();
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
