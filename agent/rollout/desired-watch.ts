import { checkApprovals, type ApprovalPolicy } from '../../protocol/approvals.js';
import { appliesTo, DESIRED_STATE_MAX_BYTES, DesiredState, type DevicePlacement, resolveDesired } from '../../protocol/desired-state.js';
import { checkDesiredCounter } from '../../protocol/replay.js';
import { openSigned } from '../../protocol/signed-message.js';
import type { TrustStore } from '../../protocol/signing.js';
import { desiredStateTopic } from '../../protocol/topics.js';
import type { RolloutStore } from './rollout-store.js';
import type { TimeFloor } from './time-floor.js';

/** A message refused, with the stable code and the sentence for the audit trail. */
export interface Refusal {
  code: string;
  reason: string;
  /** The verified desired state refused, when it was refused for what it says rather than its signature. */
  desired?: DesiredState;
}

/**
 * The desired states that concern this device (its own, its group's, its site's), each
 * verified, checked against replay, and remembered by target. The most specific one wins.
 */
export class DesiredWatch {
  private readonly byTarget = new Map<string, DesiredState>();

  constructor(
    private readonly opts: { prefix: string; placement: DevicePlacement; trust: TrustStore; store: RolloutStore; clock: TimeFloor; approvals?: ApprovalPolicy },
  ) {}

  /** Takes one retained message; returns a refusal, or undefined when accepted (or cleared). */
  accept(topic: string, payload: Buffer): Refusal | undefined {
    if (payload.length === 0) {
      // An empty retained message clears the target's desired state on the broker.
      for (const [key, d] of this.byTarget) if (desiredStateTopic(this.opts.prefix, d.target.kind, d.target.id) === topic) this.byTarget.delete(key);
      return undefined;
    }
    const opened = openSigned(DesiredState, payload, this.opts.trust, { maxBytes: DESIRED_STATE_MAX_BYTES });
    if (!opened.ok) return { code: opened.code, reason: `desired state on ${topic} refused: ${opened.reason}` };
    const d = opened.value;
    if (desiredStateTopic(this.opts.prefix, d.target.kind, d.target.id) !== topic) {
      return { code: 'E_DESIRED_TOPIC', reason: `desired state for ${d.target.kind} "${d.target.id}" arrived on ${topic}` };
    }
    if (!appliesTo(d, this.opts.placement)) return { code: 'E_DESIRED_TARGET', reason: `desired state for ${d.target.kind} "${d.target.id}" does not concern this device` };
    // Refused, it is not accepted: the counter floor stays, and the same state with enough signatures is taken when it comes.
    const approved = this.opts.approvals ? checkApprovals(opened.keyIds, this.opts.approvals, this.opts.placement) : { ok: true as const };
    if (!approved.ok) return { code: approved.code, reason: `desired state ${d.counter} for ${d.target.kind} "${d.target.id}" refused: ${approved.reason}`, desired: d };
    const key = `desired:${d.target.kind}:${d.target.id}`;
    const replay = checkDesiredCounter(d, this.opts.store.highest(key)?.counter);
    if (!replay.ok) return { code: replay.code, reason: replay.reason };
    // Judged before this message may raise the floor: its own issuedAt proves nothing about it.
    if (d.expiresAt !== undefined && Date.parse(d.expiresAt) < this.opts.clock.now()) {
      return { code: 'E_DESIRED_EXPIRED', reason: `desired state ${d.counter} for ${d.target.kind} "${d.target.id}" expired at ${d.expiresAt}` };
    }
    this.opts.store.accept(key, d.counter);
    this.byTarget.set(key, d);
    this.opts.clock.raise(Date.parse(d.issuedAt));
    return undefined;
  }

  /** The desired state that applies now: device over group over site. */
  current(): DesiredState | undefined {
    return resolveDesired([...this.byTarget.values()], this.opts.placement, this.opts.clock.now());
  }
}
