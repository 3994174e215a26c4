/*
 * What the status API answers. Fields that later features fill (`drift`, `alarms`,
 * `rollout`, and a prediction's `thumbnail`/`explanation`) are present now with their
 * "not configured" value, so the page and any client can rely on the names.
 */

/** Where the agent is in its life; the status server is up before the sources and after they stop. */
export type AgentPhase = 'starting' | 'running' | 'stopping' | 'stopped';

export type HealthState = 'starting' | 'healthy' | 'degraded' | 'alarm' | 'fault';

/** One verdict for the whole agent, with the reason an operator acts on. */
export interface HealthVerdict {
  state: HealthState;
  /** The main reason, one sentence. */
  reason: string;
  /** Every finding behind the verdict, worst first. */
  reasons: string[];
}

/**
 * `live`: frames are arriving; `idle`: a triggered source (hot folder) with nothing to do;
 * `stalled`: a free-running camera that sent no frame for `status.sourceStaleS`.
 */
export type SourceState = 'starting' | 'live' | 'idle' | 'stalled' | 'stopped';

/** Latency quantiles over the last minute; null while nothing was measured. */
export interface LatencySummary {
  p50Ms: number | null;
  p99Ms: number | null;
  count: number;
}

/** Where rollout stands for a model; "not managed" when rollout is off. */
export interface RolloutView {
  managed: boolean;
  state: string;
  /** The version being brought in, as "name version". */
  candidate?: string;
  /** Why the last transition happened (failed, rolled back, committed). */
  reason?: string;
}

export interface DiskUsage {
  /** The folder holding the store. */
  path: string;
  totalBytes: number;
  freeBytes: number;
  usedBytes: number;
  /** The SQLite file with its WAL. */
  storeBytes: number;
  /** The store's own budget; null until quotas exist. */
  quotaBytes: number | null;
}

export interface DriftView {
  configured: boolean;
  gauges: Array<{ model: string; name: string; value: number; threshold: number | null }>;
}

export interface AlarmView {
  id: string;
  severity: 'warn' | 'critical';
  message: string;
  /** Wall ms. */
  since: number;
}

/** What `GET /api/status` answers. */
export interface StatusSnapshot {
  device: string;
  site: string;
  agentVersion: string;
  uptimeS: number;
  /** Wall ms when the snapshot was taken. */
  ts: number;
  phase: AgentPhase;
  health: HealthVerdict;
  models: Array<{ name: string; version: string; loaded: boolean; rollout: RolloutView; predictions: number; inference: LatencySummary }>;
  sources: Array<{ id: string; type: string; state: SourceState; frames: number; lastFrameTs: number | null; lastFrameAgeS: number | null }>;
  counters: {
    framesIn: number;
    predictions: number;
    rejected: number;
    dropped: number;
    errors: number;
    storeWriteErrors: number;
  };
  throughput: { predictionsPerS: number; windowS: number };
  latency: { frameToCommit: LatencySummary };
  outbox: { pending: number; oldestPendingTs: number | null; oldestPendingAgeS: number | null };
  broker: { connected: boolean; url: string; changedTs: number | null; lastAckTs: number | null };
  disk: DiskUsage | null;
  drift: DriftView;
  alarms: AlarmView[];
  /** Whether POST actions can be unlocked with a token at all. */
  actions: { enabled: boolean };
}
