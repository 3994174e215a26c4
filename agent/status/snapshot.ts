/*
 * What the status API answers. Fields that later features fill (`drift`, `alarms`,
 * `rollout`, and a prediction's `thumbnail`/`explanation`) are present now with their
 * "not configured" value, so the page and any client can rely on the names.
 */

import type { OpcuaView } from '../sources/opcua/opcua-source.js';
import type { OversightView } from '../feedback/oversight.js';

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

/** The store's budgets and what eviction has taken to keep them. */
export interface StoreBudgetView {
  quotaBytes: number;
  /** Bytes of pages in use (the file minus its free list). */
  usedBytes: number;
  /** Rows removed to stay within budget since start, by eviction class (sent, plain, events, flagged, explained, alarms, samples). */
  evicted: Record<string, number>;
  samplesBytes: number;
  samplesQuotaBytes: number;
  modelsQuotaBytes: number;
  /** Writes are failing for lack of space (SQLITE_FULL) right now. */
  full: boolean;
}

export interface DriftView {
  configured: boolean;
  /** The last window's PSI per watched statistic, against its alarm level. */
  gauges: Array<{ model: string; name: string; value: number; threshold: number | null }>;
  /** Per watched model: its worst level now and how far its windows are. */
  models?: Array<{ model: string; level: 'ok' | 'warn' | 'alarm'; windows: number; samplesInWindow: number; captured: number; lastWindowAt: number | null }>;
  /** Models with drift on but no reference profile. */
  unwatched?: string[];
}

export interface AlarmView {
  id: string;
  severity: 'warn' | 'critical';
  message: string;
  /** Wall ms. */
  since: number;
  /** Seen by an operator (`POST /api/actions/alarms/:id/ack`): listed, but no longer driving the LED. */
  acknowledged?: boolean;
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
  /** The store's quotas and evictions; absent when the store runs without a quota. */
  storeBudget?: StoreBudgetView;
  drift: DriftView;
  alarms: AlarmView[];
  /** Fail-safe steps per model, live accuracy from labels, the latest segment audit. */
  oversight?: OversightView;
  /** Whether POST actions can be unlocked with a token at all. */
  actions: { enabled: boolean };
  /** OPC-UA servers (connection state) and tags (quality now), when any server is configured. */
  opcua?: OpcuaView;
  /** Explanation work: stored, skipped over the CPU budget or for a busy pipeline, failed, waiting. */
  explanations?: { explained: number; skippedBudget: number; skippedBusy: number; failed: number; workMs: number; queued: number };
}
