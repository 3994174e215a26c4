import { DEVICE_ID_PATTERN, RESERVED_TOPIC_LEVELS } from '../../protocol/topics.js';
import type { FleetDevice } from '../fleet/fleet-state.js';
import { UsageError } from './command-options.js';

/*
 * Who a rollout or rollback is for, as operators write it: `device:a,b,c`, `site:ID` or
 * `group:ID`. A site is what a device's retained status names; a group is what its
 * retained rollout report names (the agent's `rollout.group`).
 */

export type Target = { kind: 'device'; ids: string[] } | { kind: 'site'; id: string } | { kind: 'group'; id: string };

/** Parses every --target value; a device list may be comma separated or the flag repeated. */
export function parseTargets(values: readonly string[]): Target[] {
  if (values.length === 0) throw new UsageError('--target device:ID[,ID...], site:ID or group:ID is required');
  return values.map((value) => {
    const m = /^(device|site|group):(.+)$/.exec(value);
    if (!m) throw new UsageError(`--target must be device:ID[,ID...], site:ID or group:ID, got "${value}"`);
    const [, kind, rest] = m as unknown as [string, 'device' | 'site' | 'group', string];
    const ids = rest.split(',').map((s) => s.trim());
    for (const id of ids) {
      if (!DEVICE_ID_PATTERN.test(id)) throw new UsageError(`--target ${value}: "${id}" is not a valid ${kind} id (letters, digits, . _ -, at most 64)`);
      if (kind === 'device' && RESERVED_TOPIC_LEVELS.includes(id)) throw new UsageError(`--target ${value}: "${id}" is a reserved topic level, not a device`);
    }
    if (kind !== 'device') {
      if (ids.length !== 1) throw new UsageError(`--target ${value}: one ${kind} per --target`);
      return { kind, id: ids[0]! };
    }
    return { kind: 'device', ids };
  });
}

/** How a target is written back for the operator and in the rollout's progress. */
export function formatTarget(t: Target): string {
  return t.kind === 'device' ? `device:${t.ids.join(',')}` : `${t.kind}:${t.id}`;
}

export interface ResolvedDevices {
  /** Sorted by id (code units), without repeats. */
  devices: string[];
  /** Named devices the broker knows nothing about. */
  unknown: string[];
}

/**
 * The devices the targets name. A site means every device whose retained status names
 * that site, a group every device whose retained rollout report names it; named devices are taken as given (a gateway still in its box gets its desired
 * state when it first connects), and the ones the broker has never heard of are listed.
 */
export function resolveTargets(targets: readonly Target[], fleet: ReadonlyMap<string, FleetDevice>): ResolvedDevices {
  const chosen = new Set<string>();
  const unknown = new Set<string>();
  for (const t of targets) {
    if (t.kind !== 'device') {
      for (const d of fleet.values()) if ((t.kind === 'site' ? d.status?.site : d.report?.group) === t.id) chosen.add(d.id);
      continue;
    }
    for (const id of t.ids) {
      chosen.add(id);
      if (!fleet.has(id)) unknown.add(id);
    }
  }
  return { devices: [...chosen].sort(byCodeUnits), unknown: [...unknown].sort(byCodeUnits) };
}

/** One wave: its cumulative share of the devices and the devices it adds. */
export interface WavePlan {
  sharePct: number;
  devices: string[];
}

/** Parses "5%,25%,100%": cumulative shares, rising, the last 100%. */
export function parseWaves(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const shares = parts.map((p) => {
    const m = /^(\d{1,3}(?:\.\d{1,3})?)%$/.exec(p);
    const pct = m ? Number(m[1]) : NaN;
    if (!(pct > 0 && pct <= 100)) throw new UsageError(`--waves must be rising percentages ending at 100%, such as 5%,25%,100%; "${p}" is not a percentage above 0`);
    return pct;
  });
  for (let i = 1; i < shares.length; i++) {
    if (shares[i]! <= shares[i - 1]!) throw new UsageError(`--waves must be rising percentages ending at 100%, got "${text}"`);
  }
  if (shares[shares.length - 1] !== 100) throw new UsageError(`--waves must end at 100% so that every targeted device is reached, got "${text}"`);
  return shares;
}

/**
 * Splits sorted devices into waves: wave k covers the first ceil(share_k × N) devices, so a
 * wave's share is cumulative and the same inputs always give the same waves. A share that
 * adds no device (5% of 3 devices after a first wave of 1) makes no wave.
 */
export function planWaves(devices: readonly string[], sharesPct: readonly number[]): WavePlan[] {
  const waves: WavePlan[] = [];
  let taken = 0;
  for (const share of sharesPct) {
    // Rounded first: 0.07 × 100 is 7.000000000000001, and ceil would make it 8.
    const upTo = Math.min(devices.length, Math.ceil(Math.round(share * devices.length * 1e6) / 1e8));
    if (upTo > taken) waves.push({ sharePct: share, devices: devices.slice(taken, upTo) });
    taken = Math.max(taken, upTo);
  }
  return waves;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
