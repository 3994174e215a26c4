import { z } from 'zod';
import { ApprovalPolicySchema } from '../../protocol/approvals.js';
import { KEY_ID_PATTERN } from '../../protocol/signing.js';

const ms = z.number().int().nonnegative();
const share = z.number().min(0).max(1);

/** A public key the agent trusts to sign manifests and desired state. */
export const TrustedKeyConfig = z
  .strictObject({
    id: z.string().regex(KEY_ID_PATTERN, 'letters, digits, . _ - only (1 to 64)'),
    /** The key itself: PEM text or base64 of the raw 32-byte Ed25519 key... */
    publicKey: z.string().optional(),
    /** ...or a path to a PEM file (`edgectl keygen` writes one). */
    publicKeyFile: z.string().optional(),
  })
  .refine((k) => (k.publicKey === undefined) !== (k.publicKeyFile === undefined), { message: 'give publicKey or publicKeyFile, exactly one', path: ['publicKey'] });

/** Pull-based model rollout: where bundles live and the gates a new model must pass. */
export const RolloutSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** The device's group, for desired state aimed at a group (device beats group beats site). */
    group: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/).optional(),
    trustedKeys: z.array(TrustedKeyConfig).max(32).default([]),
    /** Roles of trusted keys and the sites or groups whose desired state needs k-of-n signatures from a role. */
    approvals: ApprovalPolicySchema.prefault({}),
    /** Model bundles on disk, one folder per version. */
    dir: z.string().min(1).default('/var/lib/edge-agent/models'),
    /** Bundles kept per model (serving plus older), so a rollback works offline. */
    keep: z.number().int().min(1).max(10).default(2),
    /** Random delay before acting on new desired state, so a fleet does not download at once. */
    jitterMs: ms.default(2000),
    /** Tolerated difference between this clock and the signer's when checking validity times. */
    clockSkewMs: ms.default(300_000),
    download: z
      .strictObject({
        /**
         * `auto`: the manifest's URLs over HTTP, then the artifact's retained chunks on the broker
         * if HTTP gives up or there are no URLs; `http` or `mqtt`: only that way.
         */
        via: z.enum(['auto', 'http', 'mqtt']).default('auto'),
        maxAttempts: z.number().int().min(1).max(100).default(5),
        connectTimeoutMs: ms.default(10_000),
        idleTimeoutMs: ms.default(30_000),
        /** Free space to leave beyond the artifact. */
        minFreeBytes: z.number().int().nonnegative().default(64 * 1024 * 1024),
        backoff: z.strictObject({ minMs: ms.default(1000), maxMs: ms.default(60_000) }).prefault({}),
      })
      .prefault({}),
    shadow: z
      .strictObject({
        /** Live inputs the candidate must answer beside the serving model; 0 skips shadow. */
        count: z.number().int().nonnegative().default(20),
        /** Share of those where both give the same top label. */
        minAgreement: share.default(0.8),
        timeoutMs: ms.default(600_000),
        /** Live inputs the candidate disagrees on kept as samples for retraining, per rollout; 0 keeps none. */
        capture: z.number().int().nonnegative().max(1000).default(20),
      })
      .prefault({}),
    probation: z
      .strictObject({
        /** Predictions the new model must serve before it is committed; 0 commits at once. */
        count: z.number().int().nonnegative().default(50),
        maxErrorRate: share.default(0.02),
        /** Mean top-1 confidence must stay above this share of the previous model's. */
        minConfidenceRatio: share.default(0.6),
        /** p99 inference latency budget when the manifest gives none. */
        latencyP99Ms: z.number().positive().optional(),
        timeoutMs: ms.default(3_600_000),
      })
      .prefault({}),
  })
  .refine((r) => !r.enabled || r.trustedKeys.length > 0, { message: 'rollout needs at least one trusted key', path: ['trustedKeys'] })
  .superRefine((r, ctx) => {
    const trusted = new Set(r.trustedKeys.map((k) => k.id));
    for (const [role, ids] of Object.entries(r.approvals.roles)) {
      for (const id of ids) if (!trusted.has(id)) ctx.addIssue({ code: 'custom', path: ['approvals', 'roles', role], message: `key "${id}" is not among trustedKeys` });
    }
  });
export type RolloutConfig = z.infer<typeof RolloutSchema>;
