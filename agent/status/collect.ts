import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import type { EventLog, StoredEvent } from '../buffer/events.js';
import type { SqliteDatabase } from '../buffer/database.js';
import type { Clock } from '../clock.js';
import type { DriftConfig } from '../config/drift-schema.js';
import type { AgentConfig } from '../config/schema.js';
import type { Counters } from '../counters.js';
import type { DriftState } from '../drift/monitor.js';
import type { OversightView } from '../feedback/oversight.js';
import type { AlarmView } from './snapshot.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { RecentHistogram } from '../metrics/recent-histogram.js';
import type { SyncStats } from '../sync/mqtt-sync.js';
import type { OpcuaView } from '../sources/opcua/opcua-source.js';
import { AGENT_VERSION } from '../version.js';
import { DiskProbe } from './disk.js';
import { driftAlarms, driftView } from './drift-view.js';
import { DriftHistory } from './drift-history.js';
import { MetricHistory, type HistoryView, type MetricSample } from './history.js';
import { judgeHealth, type HealthInputs } from './health.js';
import type { LedInputs } from './led/patterns.js';
import { renderMetrics } from './prometheus.js';
import { judgeReadiness, type Readiness } from './readiness.js';
import type { StatusApi } from './server.js';
import type { AgentPhase, HealthVerdict, LatencySummary, RolloutView, StatusSnapshot, StoreBudgetView, DiskUsage } from './snapshot.js';
import { sourceState } from './source-state.js';
import { StoreView, type PredictionDetail, type PredictionFilter, type PredictionSummary } from './store-view.js';

export interface StatusCollectorOptions {
  config: AgentConfig;
  clock: Clock;
  /** Monotonic ms the agent was built. */
  startedAt: number;
  phase: () => AgentPhase;
  /** Monotonic ms the agent started running, once it has. */
  runningSince: () => number | undefined;
  counters: Counters;
  metrics: AgentMetrics;
  /** The models serving now, by name. */
  models: () => ReadonlyMap<string, { readonly version: string }>;
  outbox: { pendingCount(): number; oldestPendingTs(): number | undefined };
  sync: { readonly connected: boolean; readonly stats: SyncStats };
  db: SqliteDatabase;
  events: EventLog;
  actionsEnabled: boolean;
  /** The store's budgets and evictions, when it has a quota. */
  storeBudget?: () => StoreBudgetView | undefined;
  /** Rollout's latest report, when rollout is enabled. */
  rollout?: () => RolloutReport | undefined;
  /** Sensor (tabular) models loaded, by name. */
  sensorModels?: () => ReadonlyMap<string, { readonly version: string }>;
  /** OPC-UA links and tag quality. */
  opcua?: () => OpcuaView;
  /** Explanation work so far, when the agent explains. */
  explanations?: () => NonNullable<StatusSnapshot['explanations']>;
  /** Drift of every watched model, and the models with no reference profile. */
  drift?: () => { states: DriftState[]; unwatched: string[]; limits: (model: string) => DriftConfig['limits'] | undefined; acknowledged?: (model: string) => boolean };
  /** Fail-safe chains, live accuracy from labels and segment audits: their view, accuracy alarms and fallback findings. */
  oversight?: () => { view(): OversightView; alarms(opts?: { unacknowledged?: boolean }): AlarmView[]; fallbackFindings(): string[] };
}

/**
 * Reads the agent's state for the status server, the metrics and the LED. It only reads:
 * nothing the operator's browser asks for can change what the agent does.
 */
export class StatusCollector implements StatusApi {
  private readonly view: StoreView;
  private readonly disk: DiskProbe;
  private readonly recent = new MetricHistory();
  private driftHistory: DriftHistory | undefined;

  constructor(private readonly o: StatusCollectorOptions) {
    this.view = new StoreView(o.db, o.config.status.flagBelowScore, [...o.config.models, ...o.config.sensorModels]);
    this.disk = new DiskProbe({ storePath: o.config.buffer.path, clock: o.clock });
  }

  snapshot(): StatusSnapshot {
    const { config, clock, counters, metrics } = this.o;
    const now = clock.monotonic();
    const sources = this.sources(now);
    const oldest = this.o.outbox.oldestPendingTs() ?? null;
    const loaded = this.o.models();
    const disk = this.withQuota(this.disk.read());
    return {
      device: config.deviceId,
      site: config.site,
      agentVersion: AGENT_VERSION,
      uptimeS: Math.round((now - this.o.startedAt) / 1000),
      ts: clock.now(),
      phase: this.o.phase(),
      health: this.health(),
      models: config.models.map((m) => ({
        name: m.name,
        version: loaded.get(m.name)?.version ?? m.version,
        loaded: loaded.has(m.name),
        rollout: this.rolloutView(m.name),
        predictions: metrics.models.get(m.name)?.predictions ?? 0,
        inference: summary(metrics.models.get(m.name)?.recentInference, now),
      })).concat(this.sensorModelViews(now)),
      sources,
      counters: {
        framesIn: counters.framesIn,
        predictions: counters.predictions,
        rejected: counters.rejected,
        dropped: counters.dropped,
        errors: counters.errors,
        storeWriteErrors: metrics.storeWriteErrors,
      },
      ...(this.o.explanations ? { explanations: this.o.explanations() } : {}),
      throughput: { predictionsPerS: round(metrics.predictionRate.rate(now), 2), windowS: metrics.predictionRate.windowS },
      latency: { frameToCommit: summary(metrics.recentFrameToCommit, now) },
      outbox: { pending: this.o.outbox.pendingCount(), oldestPendingTs: oldest, oldestPendingAgeS: this.ageS(oldest) },
      broker: {
        connected: this.o.sync.connected,
        url: withoutCredentials(config.broker.url),
        changedTs: metrics.brokerChangedAt ?? null,
        lastAckTs: this.o.sync.stats.lastAckAt ?? null,
      },
      disk,
      ...this.budget(),
      drift: driftView(this.o.drift?.()),
      alarms: [...driftAlarms(this.o.drift?.()), ...(this.o.oversight?.().alarms() ?? [])],
      ...(this.o.oversight ? { oversight: withWindows(this.o.oversight().view(), config) } : {}),
      actions: { enabled: this.o.actionsEnabled },
      ...(this.o.opcua && config.opcua.servers.length > 0 ? { opcua: this.o.opcua() } : {}),
    };
  }

  /** The charts' figures over the last `minutes`: the sampled ring plus a reading now, and each watched model's drift windows. */
  history(query: { minutes: number }): HistoryView {
    const ts = this.o.clock.now();
    const since = ts - query.minutes * 60_000;
    const d = this.o.drift?.();
    this.driftHistory ??= new DriftHistory(this.o.db);
    const drift = (d?.states ?? []).map((s) => {
      const psi = d?.limits(s.model)?.psi;
      return this.driftHistory!.series(s.model, since, ts, { psiWarn: psi?.warn ?? null, psiAlarm: psi?.alarm ?? null });
    });
    return { minutes: query.minutes, ts, metrics: this.recent.since(since, this.sample(ts)), drift };
  }

  /** Samples the charted figures every 10 s until the returned function is called. */
  startSampling(): () => void {
    const timer = setInterval(() => this.recent.record(this.sample()), this.recent.stepMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** The charted figures now; `ts` (wall ms) when the caller already read the clock. */
  private sample(ts = this.o.clock.now()): MetricSample {
    const { metrics, clock } = this.o;
    const now = clock.monotonic();
    const commit = summary(metrics.recentFrameToCommit, now);
    return { ts, predictionsPerS: metrics.predictionRate.rate(now), p50Ms: commit.p50Ms, p99Ms: commit.p99Ms, outboxPending: this.o.outbox.pendingCount() };
  }

  /** Sensor models are listed with the image models; rollout does not manage them. */
  private sensorModelViews(now: number): StatusSnapshot['models'] {
    const { config, metrics } = this.o;
    const loaded = this.o.sensorModels?.() ?? new Map<string, { readonly version: string }>();
    return config.sensorModels.map((m) => ({
      name: m.name,
      version: loaded.get(m.name)?.version ?? m.version,
      loaded: loaded.has(m.name),
      rollout: { managed: false, state: 'not managed' },
      predictions: metrics.models.get(m.name)?.predictions ?? 0,
      inference: summary(metrics.models.get(m.name)?.recentInference, now),
    }));
  }

  private rolloutView(model: string): RolloutView {
    const report = this.o.rollout?.();
    if (!report) return { managed: false, state: 'not managed' };
    const mine = report.candidate === undefined || report.candidate.name === model;
    if (!mine) return { managed: true, state: 'idle' };
    return {
      managed: true,
      state: report.state,
      ...(report.candidate ? { candidate: `${report.candidate.name} ${report.candidate.version}` } : {}),
      ...(report.reason ? { reason: report.reason } : {}),
    };
  }

  /** The verdict alone: cheap enough for the LED to ask every second (no count over the outbox). */
  health(): HealthVerdict {
    return judgeHealth(this.healthInputs());
  }

  ledInputs(): LedInputs {
    const phase = this.o.phase();
    return { health: this.health().state, brokerConnected: this.o.sync.connected, updating: false, stopping: phase === 'stopping' || phase === 'stopped' };
  }

  readiness(): Readiness {
    return judgeReadiness({ phase: this.o.phase(), models: this.modelStates(), storeProblem: this.storeProblem() });
  }

  metrics(): string {
    return renderMetrics(this.snapshot(), this.o.counters, this.o.metrics);
  }

  predictions(filter: PredictionFilter): PredictionSummary[] {
    return this.view.predictions(filter);
  }

  prediction(seq: number): PredictionDetail | undefined {
    return this.view.prediction(seq);
  }

  predictionInput(seq: number): { mediaType: string; data: Buffer } | undefined {
    return this.view.input(seq);
  }

  events(query: { kind?: string | undefined; limit: number }): { events: StoredEvent[]; kinds: string[] } {
    const events = this.o.events.list(query.kind === undefined ? { limit: query.limit } : { limit: query.limit, kind: query.kind });
    return { events, kinds: this.view.kinds() };
  }

  private healthInputs(): HealthInputs {
    const { config, clock, metrics } = this.o;
    const now = clock.monotonic();
    const changed = metrics.brokerChangedAt;
    const disk = this.disk.read();
    return {
      phase: this.o.phase(),
      models: this.modelStates(),
      sources: [...this.sources(now), ...this.opcuaLinks()],
      broker: { connected: this.o.sync.connected, changedAgoS: changed === undefined ? null : Math.max(0, (clock.now() - changed) / 1000) },
      outbox: { oldestPendingAgeS: this.ageS(this.o.outbox.oldestPendingTs() ?? null) },
      errorsLastMinute: metrics.recentErrors.total(now),
      lastError: metrics.lastError ? `${metrics.lastError.kind}: ${metrics.lastError.message}` : undefined,
      storeFailure: metrics.storeFailing,
      disk,
      alarms: [...driftAlarms(this.o.drift?.(), { unacknowledged: true }), ...(this.o.oversight?.().alarms({ unacknowledged: true }) ?? [])],
      fallbacks: this.o.oversight?.().fallbackFindings() ?? [],
      policy: config.status.health,
    };
  }

  /** The disk figures with the store's own budget filled in. */
  private withQuota(disk: DiskUsage | null): DiskUsage | null {
    return disk ? { ...disk, quotaBytes: this.o.config.buffer.quota.storeBytes } : null;
  }

  private budget(): { storeBudget?: StoreBudgetView } {
    const view = this.o.storeBudget?.();
    return view ? { storeBudget: view } : {};
  }

  private sources(now: number): StatusSnapshot['sources'] {
    const { config, counters, clock } = this.o;
    const phase = this.o.phase();
    return config.sources.map((s) => {
      const a = counters.sources.get(s.id);
      // A triggered camera is quiet while no part comes, like a hot folder.
      const type = 'mode' in s && s.mode === 'triggered' ? 'folder' : s.type;
      const state = sourceState({ type, phase, lastFrameAt: a?.lastFrameAt, runningSince: this.o.runningSince(), now, staleS: config.status.sourceStaleS });
      return {
        id: s.id,
        type: s.type,
        state,
        frames: a?.frames ?? 0,
        lastFrameTs: a?.lastFrameTs ?? null,
        lastFrameAgeS: a ? round(Math.max(0, clock.now() - a.lastFrameTs) / 1000, 1) : null,
      };
    });
  }

  /** An OPC-UA server that is not connected degrades the agent as a stalled camera does. */
  private opcuaLinks(): HealthInputs['sources'] {
    if (this.o.phase() !== 'running' || !this.o.opcua) return [];
    const now = this.o.clock.now();
    return this.o
      .opcua()
      .servers.filter((l) => l.state !== 'connected')
      .map((l) => ({ id: `opcua:${l.id} (${l.state}${l.lastError ? `: ${l.lastError}` : ''})`, state: 'stalled' as const, lastFrameAgeS: round(Math.max(0, now - l.changedTs) / 1000, 1) }));
  }

  private modelStates(): Array<{ name: string; loaded: boolean }> {
    const loaded = this.o.models();
    const sensors = this.o.sensorModels?.() ?? new Map();
    return [
      ...this.o.config.models.map((m) => ({ name: m.name, loaded: loaded.has(m.name) })),
      ...this.o.config.sensorModels.map((m) => ({ name: m.name, loaded: sensors.has(m.name) })),
    ];
  }

  /** A cheap writability check: open read-write, its folder writable, and the last write did not fail. */
  private storeProblem(): string | undefined {
    const { db, metrics } = this.o;
    if (!db.open) return 'the store is closed';
    if (db.readonly) return 'the store is open read-only';
    if (!db.memory) {
      try {
        accessSync(dirname(db.name), constants.W_OK);
      } catch (err) {
        return `cannot write to ${dirname(db.name)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      }
    }
    return metrics.storeFailing;
  }

  private ageS(ts: number | null): number | null {
    return ts === null ? null : round(Math.max(0, this.o.clock.now() - ts) / 1000, 1);
  }
}

function summary(h: RecentHistogram | undefined, now: number): LatencySummary {
  if (!h) return { p50Ms: null, p99Ms: null, count: 0 };
  const { count, values } = h.quantiles([0.5, 0.99], now);
  const [p50, p99] = values;
  return { p50Ms: p50 == null ? null : round(p50, 2), p99Ms: p99 == null ? null : round(p99, 2), count };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Live accuracy with the number of labels its window holds when full (`feedback.window`), so the page can say "N of W labels". */
function withWindows(view: OversightView, config: AgentConfig): OversightView {
  const windows = new Map([...config.models, ...config.sensorModels].map((m) => [m.name, m.feedback.window]));
  return { ...view, accuracy: view.accuracy.map((a) => ({ ...a, window: windows.get(a.model) ?? null })) };
}

/** A broker URL as it may be shown: user and password removed. */
export function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}
