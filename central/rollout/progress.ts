import { z } from 'zod';
import { AgentError } from '../../agent/errors.js';
import { ModelRefSchema } from '../../protocol/desired-state.js';
import { openSigned } from '../../protocol/signed-message.js';
import { ROLE_NAME_PATTERN } from '../../protocol/approvals.js';
import { KEY_ID_PATTERN, MAX_SIGNATURES, signEnvelope, TrustedKeySchema, type Signer, type TrustStore } from '../../protocol/signing.js';
import { DEVICE_ID_PATTERN, rolloutControllerTopic } from '../../protocol/topics.js';
import type { BrokerClient } from './connection.js';

/*
 * A rollout's progress, retained on rolloutControllerTopic(prefix, id): the controller's
 * whole memory, so a controller started again with the same id continues where the last
 * one stopped. It is signed like a desired state, because a resumed controller signs
 * desired states for the devices it lists: anyone who can write to the broker must not be
 * able to choose those devices or that model. Wave numbers are 1-based everywhere.
 */

/** A fleet of thousands with long device ids fits; beyond this a progress is not one. */
export const PROGRESS_MAX_BYTES = 4 * 1024 * 1024;

const deviceId = z.string().regex(DEVICE_ID_PATTERN);
const epochMs = z.number().int().nonnegative();

export const DEVICE_RESULTS = ['committed', 'failed', 'rolled-back', 'timed-out'] as const;
export type DeviceResult = (typeof DEVICE_RESULTS)[number];

/** How one device of a wave ended. */
export const DeviceOutcomeSchema = z.strictObject({ result: z.enum(DEVICE_RESULTS), reason: z.string().max(2000).optional() });
export type DeviceOutcome = z.infer<typeof DeviceOutcomeSchema>;

export const WaveProgressSchema = z.strictObject({
  wave: z.number().int().positive(),
  /** Cumulative share of the targeted devices reached by the end of this wave. */
  sharePct: z.number().positive().max(100),
  devices: z.array(deviceId).min(1),
  state: z.enum(['pending', 'waiting', 'committed', 'halted']),
  /** When its desired states were all published; set means "never publish this wave again". */
  publishedAt: epochMs.optional(),
  /** The desired-state counter published to each device. */
  counters: z.record(z.string(), z.number().int().positive()),
  /** What each device served of the model before this wave, for --rollback-failed. */
  previous: z.record(z.string(), ModelRefSchema),
  outcomes: z.record(z.string(), DeviceOutcomeSchema),
  finishedAt: epochMs.optional(),
  /** With approval: the approver key ids whose signatures went out with each device's desired state. */
  approvedBy: z.record(z.string(), z.array(z.string().regex(KEY_ID_PATTERN))).optional(),
});
export type WaveProgress = z.infer<typeof WaveProgressSchema>;

export const RolloutProgress = z.strictObject({
  v: z.literal(1),
  id: deviceId,
  model: ModelRefSchema,
  targets: z.array(z.string().max(10_000)).min(1),
  haltOnFailurePct: z.number().positive().max(100),
  rollbackFailed: z.boolean(),
  waveTimeoutMs: z.number().int().positive(),
  state: z.enum(['running', 'halted', 'done']),
  /** The wave being worked on; the last one once done. */
  currentWave: z.number().int().positive(),
  waves: z.array(WaveProgressSchema).min(1),
  /** Why it halted, and anything else an operator must know, oldest first. */
  reasons: z.array(z.string().max(4000)),
  startedAt: epochMs,
  updatedAt: epochMs,
  startedBy: z.string().max(200),
  /**
   * Set when the targets need approval (`--approval ROLE:K`): a wave's desired states wait,
   * retained on pendingDesiredTopic, until K keys of the role signed each, and go out with
   * those signatures. The keys are here, signed with the progress, so a resumed controller
   * checks approvals against the keys the rollout was started with.
   */
  /** Set when the rollout sends devices back to an older version: its desired states carry `rollback` with this reason. */
  rollback: z.strictObject({ reason: z.string().min(1).max(1000) }).optional(),
  approval: z
    .strictObject({
      role: z.string().regex(ROLE_NAME_PATTERN),
      minSignatures: z.number().int().min(1).max(MAX_SIGNATURES),
      keys: z.array(TrustedKeySchema).min(1).max(MAX_SIGNATURES),
    })
    .optional(),
});
export type RolloutProgress = z.infer<typeof RolloutProgress>;

/** A retained progress read back: the verified value, or why it cannot be used. */
export type ReadProgress = { found: false } | { found: true; ok: true; progress: RolloutProgress; keyIds: string[] } | { found: true; ok: false; reason: string };

/** Reads the retained progress of rollout `id`. */
export async function readProgress(client: BrokerClient, prefix: string, id: string, trust: TrustStore): Promise<ReadProgress> {
  const payload = await client.readOne(rolloutControllerTopic(prefix, id));
  if (payload === undefined) return { found: false };
  const opened = openSigned(RolloutProgress, payload, trust, { maxBytes: PROGRESS_MAX_BYTES });
  if (!opened.ok) return { found: true, ok: false, reason: `${opened.code}: ${opened.reason}` };
  if (opened.value.id !== id) return { found: true, ok: false, reason: `it is the progress of rollout "${opened.value.id}"` };
  return { found: true, ok: true, progress: opened.value, keyIds: opened.keyIds };
}

/** Reads a retained progress without checking who signed it, for display only; never resume from it. */
export async function peekProgress(client: BrokerClient, prefix: string, id: string): Promise<{ progress: RolloutProgress; signedBy: string[] } | { reason: string } | undefined> {
  const payload = await client.readOne(rolloutControllerTopic(prefix, id));
  if (payload === undefined) return undefined;
  if (payload.length > PROGRESS_MAX_BYTES) return { reason: `${payload.length} bytes; at most ${PROGRESS_MAX_BYTES}` };
  let envelope: { payload?: unknown; signatures?: Array<{ keyId?: unknown }> };
  try {
    envelope = JSON.parse(payload.toString('utf8')) as typeof envelope;
  } catch (err) {
    return { reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = RolloutProgress.safeParse(envelope?.payload);
  if (!parsed.success) return { reason: `not a rollout progress: ${parsed.error.issues[0]?.message ?? 'malformed'}` };
  const signedBy = Array.isArray(envelope.signatures) ? envelope.signatures.map((s) => String(s?.keyId)) : [];
  return { progress: parsed.data, signedBy };
}

/** Signs and retains progress (updatedAt set to now). */
export async function writeProgress(client: BrokerClient, prefix: string, progress: RolloutProgress, signer: Signer, now: number): Promise<void> {
  progress.updatedAt = now;
  const parsed = RolloutProgress.safeParse(progress);
  // Our own bug, but one that would make the rollout impossible to resume: stop here.
  if (!parsed.success) throw new AgentError('E_PROGRESS', `the rollout progress would be invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const bytes = Buffer.from(JSON.stringify(signEnvelope(parsed.data, signer)));
  if (bytes.length > PROGRESS_MAX_BYTES) throw new AgentError('E_PROGRESS', `the rollout progress is ${bytes.length} bytes; at most ${PROGRESS_MAX_BYTES}`);
  await client.publishRetained(rolloutControllerTopic(prefix, progress.id), bytes);
}
