import type { AgentPhase, HealthState, HealthVerdict, SourceState } from './snapshot.js';

/** Thresholds of the verdict (config `status.health`). */
export interface HealthPolicy {
  /** Broker connected but the oldest unsent prediction is older than this: the sync is behind. */
  backlogDegradedS: number;
  /** Free space on the store's filesystem below these shares (%) degrades, then faults. */
  diskFreeDegradedPct: number;
  diskFreeFaultPct: number;
}

/** Everything the verdict depends on, gathered cheaply (no count over the outbox). */
export interface HealthInputs {
  phase: AgentPhase;
  models: ReadonlyArray<{ name: string; loaded: boolean }>;
  sources: ReadonlyArray<{ id: string; state: SourceState; lastFrameAgeS: number | null }>;
  broker: { connected: boolean; changedAgoS: number | null };
  outbox: { oldestPendingAgeS: number | null };
  errorsLastMinute: number;
  lastError: string | undefined;
  /** Why the store cannot write, when it cannot. */
  storeFailure: string | undefined;
  disk: { freeBytes: number; totalBytes: number; path: string } | null;
  alarms: ReadonlyArray<{ id: string; message: string }>;
  policy: HealthPolicy;
  /** Models answering from fail-safe steps more than their configured share. */
  fallbacks?: readonly string[];
}

const RANK: Record<HealthState, number> = { healthy: 0, degraded: 1, starting: 2, alarm: 3, fault: 4 };

/**
 * The one place the agent's health is decided. Worst finding wins:
 * fault (predictions cannot be made or kept) > alarm (an active process alarm) >
 * degraded (working, but something needs attention) > healthy.
 */
export function judgeHealth(i: HealthInputs): HealthVerdict {
  if (i.phase === 'starting') return verdict('starting', ['starting: loading models, opening the store, starting sources']);
  const findings: Array<[HealthState, string]> = [];
  const add = (state: HealthState, reason: string) => findings.push([state, reason]);

  if (i.phase !== 'running') add('fault', `the agent is ${i.phase}`);
  for (const m of i.models) if (!m.loaded) add('fault', `model ${m.name} is not loaded`);
  if (i.models.length === 0) add('fault', 'no model is loaded');
  if (i.storeFailure) add('fault', `store writes are failing: ${i.storeFailure}`);
  if (i.phase === 'running' && i.sources.length > 0 && i.sources.every((s) => s.state === 'stopped')) add('fault', 'no source is running');
  const freePct = i.disk && i.disk.totalBytes > 0 ? (100 * i.disk.freeBytes) / i.disk.totalBytes : null;
  if (freePct !== null && i.disk) {
    const where = `${formatPct(freePct)} free (${formatBytes(i.disk.freeBytes)}) on ${i.disk.path}`;
    if (freePct < i.policy.diskFreeFaultPct) add('fault', `disk almost full: ${where}`);
    else if (freePct < i.policy.diskFreeDegradedPct) add('degraded', `disk filling up: ${where}`);
  }

  for (const f of i.fallbacks ?? []) add('degraded', `fail-safe in use: ${f}`);
  if (i.alarms.length > 0) add('alarm', `${plural(i.alarms.length, 'active alarm')}: ${i.alarms[0]?.message ?? ''}`);

  const backlog = i.outbox.oldestPendingAgeS;
  if (!i.broker.connected) {
    const since = i.broker.changedAgoS === null ? '' : ` for ${formatDuration(i.broker.changedAgoS)}`;
    const buffered = backlog === null ? 'nothing is waiting' : `predictions are buffered, oldest unsent ${formatDuration(backlog)} old`;
    add('degraded', `broker disconnected${since}; ${buffered}`);
  } else if (backlog !== null && backlog > i.policy.backlogDegradedS) {
    add('degraded', `sync is behind: the oldest unsent prediction is ${formatDuration(backlog)} old`);
  }
  for (const s of i.sources) {
    if (s.state === 'stalled') add('degraded', `source ${s.id} stalled: ${s.lastFrameAgeS === null ? 'no frame yet' : `no frame for ${formatDuration(s.lastFrameAgeS)}`}`);
  }
  if (i.errorsLastMinute > 0) add('degraded', `${plural(i.errorsLastMinute, 'error')} in the last minute${i.lastError ? ` (latest: ${i.lastError})` : ''}`);

  if (findings.length === 0) return verdict('healthy', [healthyReason(i)]);
  findings.sort((a, b) => RANK[b[0]] - RANK[a[0]]);
  return verdict(findings[0]?.[0] ?? 'healthy', findings.map(([, r]) => r));
}

function healthyReason(i: HealthInputs): string {
  const live = i.sources.filter((s) => s.state === 'live').length;
  const idle = i.sources.filter((s) => s.state === 'idle').length;
  const sources = [live > 0 ? `${live} live` : '', idle > 0 ? `${idle} idle` : ''].filter(Boolean).join(', ');
  return `serving ${plural(i.models.length, 'model')}; sources ${sources || 'none'}; broker connected; outbox ${i.outbox.oldestPendingAgeS === null ? 'empty' : 'draining'}`;
}

function verdict(state: HealthState, reasons: string[]): HealthVerdict {
  return { state, reason: reasons[0] ?? state, reasons };
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function formatPct(p: number): string {
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

/** 42 s, 3 min, 2.5 h: how long something has lasted, as an operator reads it. */
export function formatDuration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
