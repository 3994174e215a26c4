import { AgentError } from '../../agent/errors.js';
import { DESIRED_STATE_MAX_BYTES, DesiredState, type ModelRef } from '../../protocol/desired-state.js';
import { formatIssues } from '../../protocol/parse.js';
import { openSigned } from '../../protocol/signed-message.js';
import { signEnvelope, verifyEnvelope, type SignedEnvelope, type Signer, type TrustStore } from '../../protocol/signing.js';
import { desiredStateTopic } from '../../protocol/topics.js';
import type { BrokerClient } from './connection.js';

/*
 * Per-device desired states, the only kind central publishes today: a device's group is
 * not on the wire, and a device-level state wins over its site's on the agent, so naming
 * each device is what makes waves possible.
 *
 * The counter rule. An agent refuses a desired state whose counter is below the highest it
 * accepted for the same target, and takes an equal one as the same message again. Central
 * cannot see what an agent accepted, only what the broker retains, and the retained copy
 * can be lost (a broker restarted without persistence). So every new desired state gets
 *
 *     counter = max(retained counter + 1, last counter issued here + 1, Date.now())
 *
 * The wall clock in ms keeps counters rising across controllers, machines and lost retained
 * messages without coordination; the retained counter + 1 keeps them rising when a clock
 * is behind. Only a retained state that verifies with the given keys counts: a forged one
 * with a huge counter must not push every later counter out of range.
 */

/** What is retained for one device now. */
export interface CurrentDesired {
  device: string;
  topic: string;
  /** The retained state, when it verified. */
  state?: DesiredState;
}

/** What a new desired state changes for one device; every other model listed stays as it was. */
export interface DesiredChange {
  model: ModelRef;
  rollback?: { name: string; to: string; reason: string };
  rollout?: { id: string; wave: number };
}

export interface PublishedDesired {
  device: string;
  topic: string;
  state: DesiredState;
}

export interface DesiredPublisherOptions {
  client: BrokerClient;
  prefix: string;
  signer: Signer;
  trust: TrustStore;
  /** Tells the operator about a retained state that was not taken into account. */
  warn: (line: string) => void;
  now?: () => number;
}

/** The counter rule above: max(retained + 1, last issued + 1, now in ms); throws E_DESIRED_COUNTER beyond 2^53. */
export function nextDesiredCounter(retained: number | undefined, issued: number | undefined, nowMs: number): number {
  const counter = Math.max((retained ?? 0) + 1, (issued ?? 0) + 1, Math.floor(nowMs));
  if (!Number.isSafeInteger(counter)) throw new AgentError('E_DESIRED_COUNTER', `the next desired-state counter (${counter}) is out of range`);
  return counter;
}

export class DesiredStatePublisher {
  private readonly issued = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: DesiredPublisherOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The retained desired state of each device, verified. */
  async current(devices: readonly string[]): Promise<Map<string, CurrentDesired>> {
    const { client, prefix, trust } = this.opts;
    const out = new Map<string, CurrentDesired>();
    if (devices.length === 0) return out;
    const topics = devices.map((d) => desiredStateTopic(prefix, 'device', d));
    const retained = new Map((await client.readRetained(topics)).map((m) => [m.topic, m.payload]));
    for (const device of devices) {
      const topic = desiredStateTopic(prefix, 'device', device);
      const entry: CurrentDesired = { device, topic };
      const payload = retained.get(topic);
      if (payload !== undefined) {
        const opened = openSigned(DesiredState, payload, trust, { maxBytes: DESIRED_STATE_MAX_BYTES });
        if (!opened.ok) this.opts.warn(`the desired state retained on ${topic} is not taken into account (${opened.code}: ${opened.reason}); if another key signs for this device, pass its public key with --trust`);
        else if (opened.value.target.kind !== 'device' || opened.value.target.id !== device) this.opts.warn(`the desired state retained on ${topic} targets ${opened.value.target.kind} "${opened.value.target.id}"; ignored`);
        else entry.state = opened.value;
      }
      out.set(device, entry);
    }
    return out;
  }


  /** Signs and publishes (retained, QoS 1) the device's new desired state. */
  async publish(current: CurrentDesired, change: DesiredChange): Promise<PublishedDesired> {
    return this.publishSigned(current, signEnvelope(this.prepare(current, change), this.opts.signer));
  }

  /** The device's next desired state, not yet signed or published (its counter is taken). */
  prepare(current: CurrentDesired, change: DesiredChange): DesiredState {
    const now = this.now();
    const previous = current.state;
    // An expired state no longer applies on the agent; carrying its models on would revive them.
    const live = previous && (previous.expiresAt === undefined || Date.parse(previous.expiresAt) > now) ? previous : undefined;
    const others = live?.models.filter((m) => m.name !== change.model.name) ?? [];
    const candidate = {
      v: 1 as const,
      target: { kind: 'device' as const, id: current.device },
      counter: nextDesiredCounter(previous?.counter, this.issued.get(current.topic), now),
      issuedAt: new Date(now).toISOString(),
      models: [...others, change.model],
      rollback: change.rollback,
      rollout: change.rollout,
    };
    const parsed = DesiredState.safeParse(candidate);
    if (!parsed.success) throw new AgentError('E_DESIRED_STATE', `the desired state for ${current.device} would be invalid: ${formatIssues(parsed.error.issues)}`);
    this.issued.set(current.topic, parsed.data.counter);
    return parsed.data;
  }

  /** Publishes (retained, QoS 1) a desired state signed here, with any approvals added to it. */
  async publishSigned(current: CurrentDesired, envelope: SignedEnvelope<DesiredState>): Promise<PublishedDesired> {
    const state = envelope.payload;
    // A state its own key cannot verify must never reach the fleet.
    const self = verifyEnvelope(envelope, this.opts.trust);
    if (!self.ok || !self.keyIds.includes(this.opts.signer.keyId)) throw new AgentError('E_DESIRED_SIGN', `the signed desired state does not verify with the signing key: ${self.ok ? 'not signed by it' : self.reason}`);
    const bytes = Buffer.from(JSON.stringify(envelope));
    if (bytes.length > DESIRED_STATE_MAX_BYTES) throw new AgentError('E_DESIRED_SIZE', `the desired state for ${current.device} is ${bytes.length} bytes; agents accept at most ${DESIRED_STATE_MAX_BYTES}`);
    await this.opts.client.publishRetained(current.topic, bytes);
    this.issued.set(current.topic, Math.max(this.issued.get(current.topic) ?? 0, state.counter));
    current.state = state;
    return { device: current.device, topic: current.topic, state };
  }
}
