import { AgentError } from '../../agent/errors.js';
import { checkManifestTime } from '../../protocol/manifest.js';
import { readFleet, servingOf } from '../fleet/fleet-state.js';
import { type DesiredPublisherOptions, DesiredStatePublisher, type PublishedDesired } from './desired-publisher.js';
import { previousVersion, readPublishedManifests, type PublishedManifest } from './manifests.js';
import { resolveTargets, type Target } from './targets.js';

/*
 * A rollback is a newer desired state naming an older manifest: the agent accepts a manifest
 * counter below the one it runs only because a signed desired state lists that exact
 * counter and names the version in `rollback`. The counter is taken from the manifest the
 * broker retains, the copy agents fetch, so the two always agree.
 */

export interface RollbackRequest {
  targets: Target[];
  name: string;
  /** Without it each device goes to the highest published version below the one it serves. */
  to?: string;
  reason: string;
}

/** A rollback signs and publishes desired state exactly as a rollout wave does. */
export type RollbackContext = DesiredPublisherOptions;

/** Publishes the rollback desired state of every targeted device; nothing is published when any device's version cannot be decided. */
export async function rollbackDevices(ctx: RollbackContext, req: RollbackRequest): Promise<PublishedDesired[]> {
  const { client, prefix, trust, warn } = ctx;
  const now = (ctx.now ?? Date.now)();
  const fleet = await readFleet(client, prefix, { quietMs: 500 });
  for (const r of fleet.refused) warn(`refused the retained message on ${r.topic}: ${r.reason}`);
  const { devices, unknown } = resolveTargets(req.targets, fleet.devices);
  if (devices.length === 0) throw new AgentError('E_ROLLBACK_EMPTY', `the targets name no device known under ${prefix}`);
  if (unknown.length > 0) warn(`the broker has never heard of ${unknown.join(', ')}; they get their desired state when they connect`);

  const published = await readPublishedManifests(client, prefix, req.name, trust);
  for (const r of published.refused) warn(`refused the retained manifest on ${r.topic}: ${r.reason}`);

  const chosen = new Map<string, PublishedManifest>();
  const problems: string[] = [];
  for (const device of devices) {
    const serving = servingOf(fleet.devices.get(device), req.name);
    let target: PublishedManifest | undefined;
    if (req.to !== undefined) {
      target = published.manifests.find((p) => p.manifest.version === req.to);
      if (!target) {
        problems.push(`no verified manifest of ${req.name} ${req.to} is retained under ${prefix}/models/${req.name}/; publish its bundle first (edgectl publish --bundle DIR)`);
        break;
      }
    } else if (!serving) {
      problems.push(`${device}: reports no ${req.name} serving, so "the previous version" is unknown; give --to VERSION`);
      continue;
    } else {
      target = previousVersion(published.manifests, serving.version);
      if (!target) {
        problems.push(`${device}: serves ${req.name} ${serving.version} and no lower version is published; give --to VERSION`);
        continue;
      }
    }
    const fresh = checkManifestTime(target.manifest, now);
    if (!fresh.ok) {
      problems.push(`${fresh.reason}; agents would refuse it: pack that model again under a new version and roll it out instead`);
      break;
    }
    if (serving?.version === target.manifest.version) warn(`${device} already serves ${req.name} ${serving.version}; its desired state is pinned to it all the same`);
    chosen.set(device, target);
  }
  if (problems.length > 0) throw new AgentError('E_ROLLBACK', `nothing was published: ${problems.join('; ')}`);

  const publisher = new DesiredStatePublisher({ client, prefix, signer: ctx.signer, trust, warn, ...(ctx.now ? { now: ctx.now } : {}) });
  const current = await publisher.current(devices);
  const out: PublishedDesired[] = [];
  for (const device of devices) {
    const m = chosen.get(device)!.manifest;
    const ref = { name: m.name, version: m.version, counter: m.counter };
    out.push(await publisher.publish(current.get(device)!, { model: ref, rollback: { name: m.name, to: m.version, reason: req.reason } }));
  }
  return out;
}
