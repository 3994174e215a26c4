import type { Logger } from 'pino';
import { AgentError } from '../../agent/errors.js';
import { APPROVAL_MAX_BYTES, ApprovalMessageSchema, approvalTopic, pendingDesiredTopic } from '../../protocol/approvals.js';
import { DESIRED_STATE_MAX_BYTES, DesiredState } from '../../protocol/desired-state.js';
import { parsePayload } from '../../protocol/parse.js';
import { openSigned } from '../../protocol/signed-message.js';
import { signEnvelope, trustStoreFrom, verifyEnvelope, type Signature, type SignedEnvelope, type Signer, type TrustStore } from '../../protocol/signing.js';
import type { BrokerClient } from './connection.js';
import type { CurrentDesired, DesiredChange, DesiredStatePublisher } from './desired-publisher.js';
import type { RolloutProgress, WaveProgress } from './progress.js';

/*
 * Holds a wave's desired states until they are approved. Each device's state is signed
 * here and retained on its pending topic; approvers' signatures arrive on their own
 * retained topics (edgectl approve). An approval counts when it comes from a key of the
 * rollout's role and verifies against exactly the pending payload, so an approval of an
 * earlier pending state (another counter) is ignored, never attached. The pending states
 * are retained: a controller restarted mid-wait finds them, with their counters, and the
 * approvals already given still hold.
 */

export type Approval = NonNullable<RolloutProgress['approval']>;

/** A wave's desired state for one device, ready to publish with its approvals. */
export interface ApprovedDesired {
  envelope: SignedEnvelope<DesiredState>;
  approvedBy: string[];
}

export interface ApprovalGateOptions {
  client: BrokerClient;
  prefix: string;
  signer: Signer;
  trust: TrustStore;
  say: (line: string) => void;
  log: Logger;
  signal?: AbortSignal;
  /** Sleeps until wake is called, the signal fires or ms pass. */
  pause: (ms: number) => Promise<void>;
  /** Ends the current pause early. */
  wake: () => void;
  tickMs: number;
}

export class ApprovalGate {
  private readonly roleTrust: TrustStore;

  constructor(
    private readonly opts: ApprovalGateOptions,
    private readonly rolloutId: string,
    private readonly approval: Approval,
  ) {
    const built = trustStoreFrom(approval.keys);
    if (!built.ok) throw new AgentError('E_APPROVAL_KEYS', `the approver keys of rollout ${rolloutId}: ${built.reason}`);
    this.roleTrust = built.trust;
  }

  /** The pending desired state of each device: the one retained for this wave when there is one, else a new one, retained. */
  async pending(wave: WaveProgress, current: ReadonlyMap<string, CurrentDesired>, devices: readonly string[], change: DesiredChange, publisher: DesiredStatePublisher): Promise<Map<string, SignedEnvelope<DesiredState>>> {
    const { client, prefix } = this.opts;
    const topics = devices.map((d) => pendingDesiredTopic(prefix, this.rolloutId, d));
    const retained = new Map((await client.readRetained(topics)).map((m) => [m.topic, m.payload]));
    const out = new Map<string, SignedEnvelope<DesiredState>>();
    for (const device of devices) {
      const topic = pendingDesiredTopic(prefix, this.rolloutId, device);
      const entry = current.get(device)!;
      const held = this.reusable(retained.get(topic), device, wave, change, entry.state?.counter ?? 0);
      if (held) {
        out.set(device, held);
        continue;
      }
      const envelope = signEnvelope(publisher.prepare(entry, change), this.opts.signer);
      const bytes = Buffer.from(JSON.stringify(envelope));
      if (bytes.length > DESIRED_STATE_MAX_BYTES) throw new AgentError('E_DESIRED_SIZE', `the desired state for ${device} is ${bytes.length} bytes; agents accept at most ${DESIRED_STATE_MAX_BYTES}`);
      await client.publishRetained(topic, bytes);
      out.set(device, envelope);
    }
    return out;
  }

  /** A retained pending state this wave may go on with: signed here, for this device, rollout, wave and model, newer than the published one. */
  private reusable(payload: Buffer | undefined, device: string, wave: WaveProgress, change: DesiredChange, publishedCounter: number): SignedEnvelope<DesiredState> | undefined {
    if (payload === undefined) return undefined;
    const opened = openSigned(DesiredState, payload, this.opts.trust, { maxBytes: DESIRED_STATE_MAX_BYTES });
    if (!opened.ok || !opened.keyIds.includes(this.opts.signer.keyId)) return undefined;
    const d = opened.value;
    const m = change.model;
    const same = d.target.kind === 'device' && d.target.id === device && d.rollout?.id === this.rolloutId && d.rollout.wave === wave.wave && d.counter > publishedCounter;
    if (!same || !d.models.some((x) => x.name === m.name && x.version === m.version && x.counter === m.counter)) return undefined;
    // The payload exactly as signed (and as approvers signed it), with only this controller's signature.
    const envelope = JSON.parse(payload.toString('utf8')) as SignedEnvelope<DesiredState>;
    const own = envelope.signatures.find((s) => s.keyId === this.opts.signer.keyId)!;
    return { payload: envelope.payload, signatures: [own] };
  }

  /**
   * Waits until every device's pending state has minSignatures approvals from the role;
   * returns each state with its approvals attached, or undefined when the signal stopped it.
   */
  async wait(label: string, pending: ReadonlyMap<string, SignedEnvelope<DesiredState>>): Promise<Map<string, ApprovedDesired> | undefined> {
    if (pending.size === 0) return new Map();
    const { client, prefix } = this.opts;
    const heard = new Map<string, Buffer>();
    const stopWatching = await client.watch([`${prefix}/rollouts/${this.rolloutId}/approvals/+/+`], (topic, payload) => {
      if (payload.length === 0) heard.delete(topic);
      else heard.set(topic, payload);
      this.opts.wake();
    });
    let said = '';
    try {
      for (;;) {
        if (this.opts.signal?.aborted) return undefined;
        const ready = new Map<string, ApprovedDesired>();
        const signers = new Set<string>();
        for (const [device, envelope] of pending) {
          const valid = this.validApprovals(device, envelope, heard);
          for (const s of valid) signers.add(s.keyId);
          if (valid.length >= this.approval.minSignatures) {
            const own = envelope.signatures.filter((s) => !valid.some((v) => v.keyId === s.keyId));
            ready.set(device, { envelope: { payload: envelope.payload, signatures: [...own, ...valid] }, approvedBy: valid.map((s) => s.keyId) });
          }
        }
        const line =
          `${label}: ${ready.size}/${pending.size} desired state${pending.size > 1 ? 's' : ''} approved (role "${this.approval.role}" needs ${this.approval.minSignatures} of ${this.approval.keys.map((k) => k.id).join(', ')}` +
          `; signed so far: ${[...signers].sort().join(', ') || 'nobody'})${ready.size < pending.size ? `; approve with: edgectl approve --rollout ${this.rolloutId} --key KEYFILE --trust OPS.pub` : ''}`;
        if (line !== said) {
          this.opts.say(line);
          said = line;
        }
        if (ready.size === pending.size) return ready;
        await this.opts.pause(this.opts.tickMs);
      }
    } finally {
      await stopWatching();
    }
  }

  /** The role's signatures over exactly this pending payload, one per key. */
  private validApprovals(device: string, envelope: SignedEnvelope<DesiredState>, heard: ReadonlyMap<string, Buffer>): Signature[] {
    const out: Signature[] = [];
    for (const key of this.approval.keys) {
      const payload = heard.get(approvalTopic(this.opts.prefix, this.rolloutId, device, key.id));
      if (payload === undefined) continue;
      const parsed = parsePayload(ApprovalMessageSchema, payload, APPROVAL_MAX_BYTES);
      if (!parsed.ok) {
        this.opts.log.warn({ device, key: key.id, reason: parsed.reason }, 'approval message refused');
        continue;
      }
      const a = parsed.value;
      if (a.device !== device || a.signature.keyId !== key.id || a.counter !== envelope.payload.counter) continue;
      const checked = verifyEnvelope({ payload: envelope.payload, signatures: [a.signature] }, this.roleTrust);
      if (checked.ok) out.push(a.signature);
      else this.opts.log.warn({ device, key: key.id, reason: checked.reason }, 'approval signature does not verify');
    }
    return out;
  }

  /** Clears a device's pending state and the approvals of it once its desired state is out. */
  async clear(device: string): Promise<void> {
    const { client, prefix } = this.opts;
    await client.publishRetained(pendingDesiredTopic(prefix, this.rolloutId, device), Buffer.alloc(0));
    for (const key of this.approval.keys) await client.publishRetained(approvalTopic(prefix, this.rolloutId, device, key.id), Buffer.alloc(0));
  }
}
