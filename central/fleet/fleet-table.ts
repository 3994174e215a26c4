import type { FleetDevice } from './fleet-state.js';

/** One device as `edgectl fleet` shows it. */
export interface FleetRow {
  device: string;
  site: string | null;
  status: 'online' | 'offline' | 'unknown';
  agentVersion: string | null;
  /** "name@version" of every model serving. */
  serving: string[];
  rollout: { state: string; reason?: string; candidate?: string; rolloutId?: string; progressPct?: number } | null;
  /** Epoch ms of the newest sign of life: status, report, or ingest's record. */
  lastSeen: number | null;
}

/** The rows, sorted by device id; `lastSeenDb` adds what ingest's database knows. */
export function fleetRows(devices: Iterable<FleetDevice>, lastSeenDb: ReadonlyMap<string, { site: string | null; lastSeen: number }> = new Map()): FleetRow[] {
  const byId = new Map<string, FleetDevice>();
  for (const d of devices) byId.set(d.id, d);
  for (const id of lastSeenDb.keys()) if (!byId.has(id)) byId.set(id, { id });
  return [...byId.values()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((d) => {
      const r = d.report;
      const db = lastSeenDb.get(d.id);
      const seen = [d.status?.ts, r?.ts, db?.lastSeen].filter((x): x is number => typeof x === 'number');
      const rollout: FleetRow['rollout'] = r ? { state: r.state } : null;
      if (r && rollout) {
        if (r.reason !== undefined) rollout.reason = r.reason;
        if (r.candidate) rollout.candidate = `${r.candidate.name}@${r.candidate.version}`;
        if (r.rolloutId !== undefined) rollout.rolloutId = r.rolloutId;
        if (r.progress) rollout.progressPct = Math.floor((r.progress.bytes * 100) / r.progress.total);
      }
      return {
        device: d.id,
        site: d.status?.site ?? db?.site ?? null,
        status: d.status?.state ?? 'unknown',
        agentVersion: d.status?.agentVersion ?? null,
        serving: r?.serving.map((m) => `${m.name}@${m.version}`) ?? [],
        rollout,
        lastSeen: seen.length > 0 ? Math.max(...seen) : null,
      };
    });
}

const HEADER = ['DEVICE', 'SITE', 'STATUS', 'SERVING', 'ROLLOUT', 'LAST SEEN'];

/** A plain-text table, one line per device, columns padded to their widest cell. */
export function fleetTable(rows: readonly FleetRow[], now: number): string {
  const cells = rows.map((r) => [r.device, r.site ?? '-', r.status, r.serving.join(', ') || '-', rolloutCell(r.rollout), r.lastSeen === null ? '-' : `${age(now - r.lastSeen)} ago`]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => (i === c.length - 1 ? s : s.padEnd(widths[i]!))).join('  ');
  return [line(HEADER), ...cells.map(line)].join('\n');
}

/** The fleet as JSON: the rows, with last seen as an ISO time and an age in seconds. */
export function fleetJson(rows: readonly FleetRow[], now: number): string {
  return JSON.stringify(
    rows.map((r) => ({ ...r, lastSeen: r.lastSeen === null ? null : new Date(r.lastSeen).toISOString(), lastSeenAgeS: r.lastSeen === null ? null : Math.max(0, Math.round((now - r.lastSeen) / 1000)) })),
    null,
    2,
  );
}

function rolloutCell(r: FleetRow['rollout']): string {
  if (!r) return '-';
  let cell = r.state;
  if (r.candidate && !['committed', 'idle'].includes(r.state)) cell += ` ${r.candidate}`;
  if (r.progressPct !== undefined && r.state === 'downloading') cell += ` ${r.progressPct}%`;
  // Reasons can be long (a stack of why a model failed); the JSON form has them whole.
  if (r.reason) cell += ` (${r.reason.length > 60 ? `${r.reason.slice(0, 59).trimEnd()}…` : r.reason})`;
  return cell;
}

/** 42 s → "42s", 3 h 10 m → "3h". */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}
