import type { DesiredState } from './desired-state.js';
import type { Check, ModelManifest } from './manifest.js';

/*
 * A signature proves who made a message, not that it is the latest one: an old manifest
 * or desired state, validly signed, can be replayed from a broker's retained store or by
 * anyone who recorded it. Counters that only go up close that gap (fault 11). The agent
 * keeps the highest counters it accepted in its store; these rules say what to do next.
 */

/** The manifest an agent accepted last for one model name. */
export interface AcceptedManifest {
  counter: number;
  version: string;
}

/**
 * Whether a verified manifest may be accepted after `highest` (undefined: none yet for its
 * name). A higher counter is new; the same counter and version is the same manifest again
 * (a retained message redelivered); a lower counter is a replay, unless `desired` (itself
 * verified and not a replay) carries a rollback naming this name and version and lists
 * this exact manifest counter in its models.
 */
export function checkManifestCounter(
  m: Pick<ModelManifest, 'name' | 'version' | 'counter'>,
  highest: AcceptedManifest | undefined,
  desired?: Pick<DesiredState, 'rollback' | 'models'>,
): Check<'E_MANIFEST_REPLAY'> {
  if (highest === undefined || m.counter > highest.counter) return { ok: true };
  if (m.counter === highest.counter) {
    if (m.version === highest.version) return { ok: true };
    return { ok: false, code: 'E_MANIFEST_REPLAY', reason: `${m.name} ${m.version} reuses counter ${m.counter} of ${highest.version}` };
  }
  const rb = desired?.rollback;
  const named = rb !== undefined && rb.name === m.name && rb.to === m.version;
  if (named && desired?.models.some((r) => r.name === m.name && r.version === m.version && r.counter === m.counter)) return { ok: true };
  return {
    ok: false,
    code: 'E_MANIFEST_REPLAY',
    reason: `${m.name} ${m.version} has counter ${m.counter}, below ${highest.counter} (${highest.version}) already accepted, and no signed rollback names it`,
  };
}

/**
 * Whether a verified desired state may be accepted after the highest counter accepted for
 * the same target (undefined: none yet). Equal is the same message again and fine; lower
 * is a replay. There is no exception: a rollback is itself a newer desired state.
 */
export function checkDesiredCounter(d: Pick<DesiredState, 'target' | 'counter'>, highest: number | undefined): Check<'E_DESIRED_REPLAY'> {
  if (highest === undefined || d.counter >= highest) return { ok: true };
  return {
    ok: false,
    code: 'E_DESIRED_REPLAY',
    reason: `desired state ${d.counter} for ${d.target.kind} "${d.target.id}" is older than ${highest} already accepted`,
  };
}
