import type { Logger } from 'pino';
import { Store } from './buffer/store.js';
import { OutboxWriter } from './buffer/outbox-writer.js';
import { type Clock, systemClock } from './clock.js';
import type { AgentConfig, SourceConfig } from './config/schema.js';
import { Counters } from './counters.js';
import { DriftSet } from './drift/drift-set.js';
import { DriftWindowStore } from './drift/window-store.js';
import { ShadowCapture } from './rollout/shadow-capture.js';
import type { EventSink } from './events.js';
import { ModelSet } from './inference/model-set.js';
import { Rollout } from './rollout/rollout.js';
import { NativeHeapTrim } from './memory/native-heap-trim.js';
import type { Component } from './lifecycle/component.js';
import { Supervisor } from './lifecycle/supervisor.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { countingSink, tappedEvents, timedModel } from './metrics/instrument.js';
import { FrameQueue } from './pipeline/frame-queue.js';
import { TagBoard } from './features/tag-board.js';
import { SensorPipeline } from './pipeline/sensor-pipeline.js';
import type { CaptureTarget } from './sources/camera/trigger.js';
import { OpcuaSource } from './sources/opcua/opcua-source.js';
import { ImagePipeline, type Route } from './pipeline/image-pipeline.js';
import { FolderSource } from './sources/camera/folder.js';
import { SyntheticSource } from './sources/camera/synthetic.js';
import { resolve as resolvePath } from 'node:path';
import { listenForCaptureCommands } from './sources/camera/capture-command.js';
import { ffmpegSource } from './sources/camera/ffmpeg.js';
import { mjpegSource } from './sources/camera/mjpeg.js';
import { SnapshotSource } from './sources/camera/snapshot.js';
import type { StreamCamera } from './sources/camera/stream-camera.js';
import { StatusCollector } from './status/collect.js';
import { createStatusLed, type StatusLed } from './status/led/led.js';
import { StatusServer } from './status/server.js';
import type { AgentPhase, StatusSnapshot } from './status/snapshot.js';
import { actionToken } from './status/token.js';
import { MqttSync } from './sync/mqtt-sync.js';
import type { SparkplugNode } from './sync/sparkplug/node.js';
import { TelemetryPublisher } from './sync/telemetry.js';
import { AGENT_VERSION } from './version.js';
import { Explainer } from './explain/explainer.js';
import { ExplanationStore } from './explain/explanation-store.js';
import { ExplanationSync } from './explain/explanation-sync.js';
import { ImageClassifierModel } from './inference/image-model.js';
import { labelFromBody } from './feedback/label-action.js';
import { Oversight } from './feedback/oversight.js';

export interface AgentOptions {
  config: AgentConfig;
  /** Folder that relative paths in the config are resolved against. */
  baseDir: string;
  log: Logger;
  clock?: Clock;
}

/** Camera inputs kept when an operator presses capture on the status page. */
const CAPTURE_ON_REQUEST = 10;

/** One running agent: every component built from the config, started and stopped in order. */
export class Agent {
  readonly counters = new Counters();
  readonly metrics: AgentMetrics;
  readonly store: Store;
  readonly sync: MqttSync;
  /** The Sparkplug B edge node, when `broker.output` is `sparkplug`. */
  readonly sparkplug: SparkplugNode | undefined;
  readonly status: StatusServer | undefined;
  readonly led: StatusLed | undefined;
  readonly rollout: Rollout;
  readonly opcua: OpcuaSource;
  readonly sensors: SensorPipeline;
  /** Occlusion maps of image predictions, Shapley values of sensor predictions; `explainer.setAlarm(model, active)` turns on explaining everything. */
  readonly explainer: Explainer;
  readonly explanationSync: ExplanationSync;
  /** Fail-safe chains, labels with live accuracy, segment audits. */
  readonly oversight: Oversight;
  private readonly collector: StatusCollector;
  private readonly supervisor: Supervisor;
  private readonly startedAt: number;
  private phase: AgentPhase = 'starting';
  private runningSince: number | undefined;

  private constructor(
    private readonly opts: AgentOptions & { clock: Clock },
    models: ModelSet,
    /** Loaded only for `broker.output: sparkplug`: its protobuf library costs about 8 MB. */
    Sparkplug: typeof SparkplugNode | undefined,
  ) {
    const { config, log, clock } = opts;
    this.startedAt = clock.monotonic();
    this.metrics = new AgentMetrics(clock);
    this.store = new Store({ config: config.buffer, log, clock, flagBelowScore: config.status.flagBelowScore });
    // Every component's audit events also feed the health verdict (errors, store, broker).
    const events = tappedEvents(this.store.events, (e) => this.metrics.onEvent(e));
    // What both ways to the broker (batches, Sparkplug B) are built from.
    const link = {
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
    };
    this.sync = new MqttSync({ ...link, sendPredictions: config.broker.output === 'batches' });
    this.sparkplug =
      Sparkplug
        ? new Sparkplug({
            ...link,
            database: this.store.database,
            health: () => {
              const s = this.collector.snapshot();
              return { state: s.health.state, reason: s.health.reason, outboxPending: s.outbox.pending };
            },
          })
        : undefined;
    const writer = new OutboxWriter({
      outbox: this.store.outbox,
      events,
      log,
      batchSize: config.buffer.batchSize,
      lingerMs: config.buffer.lingerMs,
      clock,
      ...(this.store.quota ? { quota: this.store.quota } : {}),
      onCommit: () => (this.sparkplug ?? this.sync).wake(),
    });
    const driftWindows = new DriftWindowStore(this.store.database);
    const shadowCapture = new ShadowCapture({ samples: this.store.samples, events });
    const drift = new DriftSet({
      models: [...config.models, ...config.sensorModels],
      baseDir: opts.baseDir,
      bundleProfile: (name, version) => (config.rollout.enabled ? this.rollout.bundleProfile(name, version) : undefined),
      windows: driftWindows,
      samples: this.store.samples,
      events,
      clock,
      log: log.child({ component: 'drift' }),
      // During a drift alarm, models so configured explain every prediction.
      onAlarm: (model, active) => this.explainer.setAlarm(model, active),
    });
    this.oversight = new Oversight({
      config,
      baseDir: opts.baseDir,
      db: this.store.database,
      samples: this.store.samples,
      events,
      clock,
      log,
      servingVersion: (name) => models.models.get(name)?.version ?? models.tabular.get(name)?.version,
      channel: this.sync,
    });
    const routes: Route[] = [];
    const cameras = new Map<string, CaptureTarget>();
    const sources = config.sources.map((source) => {
      const queue = new FrameQueue(config.pipeline.queueSize, () => this.counters.dropped++);
      routes.push({ source: source.id, queue, models: models.pick(source.models).map((m) => this.oversight.failsafes.wrapImage(timedModel(m, this.metrics, clock))) });
      const built = this.buildSource(source, queue, events);
      if (source.type === 'synthetic' && source.mode === 'triggered') cameras.set(source.id, built as SyntheticSource);
      if (source.type !== 'synthetic' && source.type !== 'folder' && source.mode === 'triggered') cameras.set(source.id, built as SnapshotSource | StreamCamera);
      return built;
    });
    const board = new TagBoard();
    this.oversight.useBoard(board);
    // Triggered cameras also take a picture on an MQTT capture command.
    if (cameras.size > 0) listenForCaptureCommands({ channel: this.sync, topicPrefix: config.broker.topicPrefix, deviceId: config.deviceId, cameras, events, clock, log: log.child({ component: 'capture-commands' }) });
    this.opcua = new OpcuaSource({ config: config.opcua, baseDir: opts.baseDir, board, cameras, events, log: log.child({ component: 'opcua' }), clock });
    this.oversight.writeBack = (target, model, value) => this.opcua.writeBack.send(target, model, value);
    const sensorSink = countingSink(writer, this.metrics);
    this.sensors = new SensorPipeline({
      models: [...models.tabular.values()].map((m) => this.oversight.failsafes.wrapSensor(m)),
      board,
      sink: { add: (record) => this.explainer.sensorSink(sensorSink).add(record) },
      events,
      counters: this.counters,
      clock,
      log: log.child({ component: 'sensor-pipeline' }),
      baseDir: opts.baseDir,
      writeBack: (target, model, value) => this.opcua.writeBack.send(target, model, value),
      onInferred: (model, ms) => this.metrics.inferred(model, ms),
      onAnswer: (model, features, result) => {
        drift.window(model.name, model.version, features, result);
        this.oversight.window(model, result);
      },
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
      onStage: (stage, ms) => this.metrics.stage(stage, ms),
      // A fail-safe step's answer is not the model's: there is nothing of the model's to explain.
      onClassified: (c) => c.result.step === undefined && this.explainer.onClassified(c),
      onAnswer: (model, result, frame, seq) => {
        drift.answer(model, result, frame, seq);
        this.oversight.answer(model, result, frame, seq);
        shadowCapture.note(model.name, frame, seq);
      },
    });
    const explanations = new ExplanationStore(this.store.database);
    this.explanationSync = new ExplanationSync({
      deviceId: config.deviceId,
      topicPrefix: config.broker.topicPrefix,
      store: explanations,
      link: this.sync,
      syncOverlay: new Set(config.models.filter((m) => m.explain?.syncOverlay).map((m) => m.name)),
      clock,
      log: log.child({ component: 'explanation-sync' }),
    });
    this.explainer = new Explainer({
      configs: new Map(config.models.flatMap((m) => (m.explain ? [[m.name, m.explain] as const] : []))),
      resolve: (name) => {
        const serving = models.models.get(name);
        return serving && serving.model instanceof ImageClassifierModel ? { model: serving.model, version: serving.version } : undefined;
      },
      store: explanations,
      gate: pipeline,
      sensorModels: config.sensorModels,
      baseDir: opts.baseDir,
      profile: (name, version) => (config.rollout.enabled ? this.rollout.bundleProfile(name, version) : undefined),
      log: log.child({ component: 'explainer' }),
      onStored: () => this.explanationSync.wake(),
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
      drift: () => ({ states: drift.states(), unwatched: drift.unwatched(), limits: (model) => [...config.models, ...config.sensorModels].find((m) => m.name === model)?.drift.limits, acknowledged: (model) => drift.isAcknowledged(model) }),
      sensorModels: () => models.tabular,
      opcua: () => this.opcua.view(),
      explanations: () => this.explainer.stats,
      oversight: () => this.oversight,
      storeBudget: () => {
        const { quota, samples } = this.store;
        if (!quota || !samples) return undefined;
        const q = config.buffer.quota;
        return { quotaBytes: q.storeBytes, usedBytes: quota.usedBytes(), evicted: { ...quota.evicted, samples: samples.evicted }, samplesBytes: samples.usedBytes(), samplesQuotaBytes: q.samplesBytes, modelsQuotaBytes: q.modelsBytes, full: writer.storeFull };
      },
    });
    const telemetry = new TelemetryPublisher({
      deviceId: config.deviceId,
      topicPrefix: config.broker.topicPrefix,
      everyS: config.broker.telemetryS,
      events: this.store.events,
      samples: this.store.samples,
      driftWindows,
      channel: this.sync,
      clock,
      log: log.child({ component: 'telemetry' }),
      health: () => {
        const s = this.collector.snapshot();
        const evictions: Record<string, number> = { ...this.store.quota?.evicted, samples: this.store.samples?.evicted ?? 0 };
        return { state: s.health.state, reason: s.health.reason, outboxPending: s.outbox.pending, oldestPendingAgeS: s.outbox.oldestPendingAgeS, storeBytes: s.disk?.storeBytes ?? null, storeQuotaBytes: this.store.quota?.quotaBytes ?? null, evictions };
      },
    });
    this.status = config.status.enabled
      ? new StatusServer({
          host: config.status.host,
          port: config.status.port,
          api: this.collector,
          token,
          actions: {
            ...(config.rollout.enabled ? { rollback: () => this.rollout.rollback('rolled back by an operator from the status page') } : {}),
            capture: async () => drift.requestCapture(CAPTURE_ON_REQUEST),
            ackAlarm: async (id) => (id.startsWith('accuracy:') ? this.oversight.feedback.acknowledge(id) : drift.acknowledge(id)),
            label: async (body) => this.oversight.label(labelFromBody(body)),
          },
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
      modelsQuotaBytes: config.buffer.quota.modelsBytes,
      shadowCapture,
      events,
      clock,
      log,
    });
    // OPC-UA is the most upstream part: it stops first, so the last windows drain into the outbox.
    const order: Component[] = [this.store, new NativeHeapTrim({ intervalMs: config.memory.trimIntervalMs, log: log.child({ component: 'memory' }) }), ...statusParts, models, this.sync, telemetry, this.explanationSync, ...this.oversight.components, ...(this.sparkplug ? [this.sparkplug] : []), this.rollout, writer, this.explainer, pipeline, this.sensors, ...sources, this.opcua];
    this.supervisor = new Supervisor(order, log.child({ component: 'supervisor' }));
  }

  /** Builds the agent; loading the models first so a bad model is refused before anything starts. */
  static async create(opts: AgentOptions): Promise<Agent> {
    const clock = opts.clock ?? systemClock;
    const sparkplug = opts.config.broker.output === 'sparkplug' ? (await import('./sync/sparkplug/node.js')).SparkplugNode : undefined;
    const models = await ModelSet.load(opts.config.models, opts.baseDir, opts.log, opts.config.sensorModels);
    try {
      return new Agent({ ...opts, clock }, models, sparkplug);
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
      case 'snapshot':
        return new SnapshotSource({ config: source, queue, counters: this.counters, events, clock, log: child, resolvePath: (p) => resolvePath(this.opts.baseDir, p) });
      case 'mjpeg':
        return mjpegSource({ config: source, queue, counters: this.counters, events, clock, log: child, resolvePath: (p) => resolvePath(this.opts.baseDir, p) });
      case 'rtsp':
      case 'usb':
      case 'video':
        return ffmpegSource({ config: source, queue, counters: this.counters, events, clock, log: child, resolvePath: (p) => resolvePath(this.opts.baseDir, p) });
    }
  }
}
