import { AgentError } from '../../agent/errors.js';
import { checkManifestTime } from '../../protocol/manifest.js';
import type { TrustStore } from '../../protocol/signing.js';
import { readFleet } from '../fleet/fleet-state.js';
import { operatorName } from './command-options.js';
import type { BrokerClient } from './connection.js';
import { readPublishedManifest } from './manifests.js';
import type { RolloutProgress } from './progress.js';
import { formatTarget, planWaves, resolveTargets, type Target } from './targets.js';

/** What an operator asks for with `edgectl rollout start`. */
export interface RolloutRequest {
  id: string;
  name: string;
  version: string;
  targets: Target[];
  sharesPct: number[];
  haltOnFailurePct: number;
  rollbackFailed: boolean;
  waveTimeoutMs: number;
  /** Refuse named devices the broker has no retained status for (--devices-from-status). */
  knownDevicesOnly: boolean;
  /** The approvals every desired state of the rollout waits for (--approval). */
  approval?: RolloutProgress['approval'];
  /** The version is older than what devices run: desired states name it in `rollback` (--rollback-reason). */
  rollback?: RolloutProgress['rollback'];
}

/**
 * The first progress of a new rollout: the manifest it rolls out (as retained on the
 * broker, verified, not expired), the devices its targets name today, and its waves.
 * Membership is fixed here: a device joining the site later is not added to a rollout
 * already under way.
 */
export async function planRollout(client: BrokerClient, prefix: string, trust: TrustStore, req: RolloutRequest, warn: (line: string) => void, now: number): Promise<RolloutProgress> {
  const published = await readPublishedManifest(client, prefix, req.name, req.version, trust);
  const m = published.manifest;
  const fresh = checkManifestTime(m, now);
  if (!fresh.ok) throw new AgentError(fresh.code, `${fresh.reason}; agents would refuse it: pack and publish it again`);

  const fleet = await readFleet(client, prefix, { quietMs: 500 });
  for (const r of fleet.refused) warn(`refused the retained message on ${r.topic}: ${r.reason}`);
  const { devices, unknown } = resolveTargets(req.targets, fleet.devices);
  const withoutStatus = req.targets.flatMap((t) => (t.kind === 'device' ? t.ids : [])).filter((id) => !fleet.devices.get(id)?.status);
  if (req.knownDevicesOnly && withoutStatus.length > 0) {
    throw new AgentError('E_ROLLOUT_UNKNOWN_DEVICE', `no retained status for ${withoutStatus.join(', ')} under ${prefix}; check the names (or drop --devices-from-status to target them anyway)`);
  }
  if (unknown.length > 0) warn(`the broker has never heard of ${unknown.join(', ')}; they get their desired state when they connect`);
  if (devices.length === 0) throw new AgentError('E_ROLLOUT_EMPTY', `the targets ${req.targets.map(formatTarget).join(' ')} name no device known under ${prefix}`);

  const waves = planWaves(devices, req.sharesPct);
  return {
    v: 1,
    id: req.id,
    model: { name: m.name, version: m.version, counter: m.counter },
    targets: req.targets.map(formatTarget),
    haltOnFailurePct: req.haltOnFailurePct,
    rollbackFailed: req.rollbackFailed,
    waveTimeoutMs: req.waveTimeoutMs,
    state: 'running',
    currentWave: 1,
    waves: waves.map((w, i) => ({ wave: i + 1, sharePct: w.sharePct, devices: w.devices, state: 'pending', counters: {}, previous: {}, outcomes: {} })),
    reasons: [],
    startedAt: now,
    updatedAt: now,
    startedBy: operatorName(),
    ...(req.approval ? { approval: req.approval } : {}),
    ...(req.rollback ? { rollback: req.rollback } : {}),
  };
}

/** A rollout id when none is given: model, version and the UTC time, within one topic level. */
export function defaultRolloutId(name: string, version: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${`${name}-${version}`.slice(0, 64 - stamp.length - 1)}-${stamp}`;
}

