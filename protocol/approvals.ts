import { z } from 'zod';
import type { DevicePlacement } from './desired-state.js';
import type { Check } from './manifest.js';
import { KEY_ID_PATTERN, MAX_SIGNATURES, SignatureSchema, verifyEnvelope, type TrustStore, type VerifyErrorCode } from './signing.js';
import { DEVICE_ID_PATTERN, rolloutControllerTopic } from './topics.js';

/*
 * k-of-n approvals. A role names trusted keys (the data scientist who packed a model, a
 * quality engineer); a rule says that desired state reaching the devices of a site or a
 * group counts only with at least k signatures from keys of a role. The rule is the
 * device's own (its trust config), so it holds for every desired state that applies to
 * the device, whether that state names the device, its group or its site: a device-level
 * state cannot go around its site's rule. Signatures are counted only after verifyEnvelope
 * has checked every one of them, so a key counts once and a forged signature never counts.
 */

/** A role name: lowercase letters, digits, _ and -, starting with a letter. */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** The targets a rule can name, as operators write them: `site:ID` or `group:ID`. */
export const APPROVAL_TARGET_PATTERN = /^(site|group):([A-Za-z0-9][A-Za-z0-9._-]{0,63})$/;

const roleName = z.string().regex(ROLE_NAME_PATTERN, 'lowercase letters, digits, _ - only (at most 32), starting with a letter');
const keyId = z.string().regex(KEY_ID_PATTERN, 'letters, digits, . _ - only (1 to 64)');

/** Desired state for the devices of `target` needs `minSignatures` signatures from keys of `role`. */
export const ApprovalRuleSchema = z.strictObject({
  target: z.string().regex(APPROVAL_TARGET_PATTERN, 'site:ID or group:ID'),
  role: roleName,
  minSignatures: z.number().int().min(1).max(MAX_SIGNATURES),
});
export type ApprovalRule = z.infer<typeof ApprovalRuleSchema>;

/** Roles (key ids by role name) and the rules that use them; a rule's role must exist and hold at least minSignatures keys. */
export const ApprovalPolicySchema = z
  .strictObject({
    roles: z.record(roleName, z.array(keyId).min(1).max(MAX_SIGNATURES)).default({}),
    rules: z.array(ApprovalRuleSchema).max(64).default([]),
  })
  .superRefine((p, ctx) => {
    for (const [role, ids] of Object.entries(p.roles)) {
      if (new Set(ids).size !== ids.length) ctx.addIssue({ code: 'custom', path: ['roles', role], message: 'a key is listed twice' });
    }
    p.rules.forEach((r, i) => {
      const members = p.roles[r.role];
      if (!members) ctx.addIssue({ code: 'custom', path: ['rules', i, 'role'], message: `no role "${r.role}" among roles` });
      else if (members.length < r.minSignatures) ctx.addIssue({ code: 'custom', path: ['rules', i, 'minSignatures'], message: `role "${r.role}" has ${members.length} key(s); ${r.minSignatures} signatures could never be given` });
    });
  });
export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;

/** The rules of policy that apply to a device: those naming its site or its group. */
export function rulesFor(policy: ApprovalPolicy, device: DevicePlacement): ApprovalRule[] {
  return policy.rules.filter((r) => {
    const [, kind, id] = APPROVAL_TARGET_PATTERN.exec(r.target) ?? [];
    return kind === 'site' ? id === device.site : device.group !== undefined && id === device.group;
  });
}

/**
 * Whether verified signers (the trusted key ids verifyEnvelope or openSigned returned)
 * satisfy every rule of policy that applies to device; the refusal names the rule, how many
 * signatures of the role there are and which keys of the role have not signed.
 */
export function checkApprovals(signers: readonly string[], policy: ApprovalPolicy, device: DevicePlacement): Check<'E_APPROVAL'> {
  for (const rule of rulesFor(policy, device)) {
    const short = shortfall(signers, rule.role, policy.roles[rule.role] ?? [], rule.minSignatures);
    if (short !== undefined) return { ok: false, code: 'E_APPROVAL', reason: `${rule.target} requires ${short}` };
  }
  return { ok: true };
}

/** Undefined when enough members of role signed; else what is missing, in words. */
function shortfall(signers: readonly string[], role: string, members: readonly string[], min: number): string | undefined {
  const approved = members.filter((k) => signers.includes(k));
  if (approved.length >= min) return undefined;
  const missing = members.filter((k) => !approved.includes(k));
  const others = signers.filter((k) => !members.includes(k));
  return (
    `${min} signature${min > 1 ? 's' : ''} from role "${role}", found ${approved.length}${approved.length ? ` (${approved.join(', ')})` : ''}; ` +
    `not yet signed by ${missing.join(', ')}${others.length ? `; signatures outside the role do not count (${others.join(', ')})` : ''}`
  );
}

/** What verifying an envelope against a role found: the signers, or why it must be refused. */
export type RoleVerifyResult = { ok: true; payload: unknown; keyIds: string[]; approvedBy: string[] } | { ok: false; code: VerifyErrorCode | 'E_APPROVAL'; reason: string };

/**
 * Verifies envelope against trust (verifyEnvelope's rules: a bad signature under a trusted
 * id refuses it, a key signing twice refuses it) and then needs minSignatures of its
 * trusted signers to be members of role.
 */
export function verifyRoleSignatures(envelope: unknown, trust: TrustStore, role: { name: string; keyIds: readonly string[] }, minSignatures: number): RoleVerifyResult {
  const verified = verifyEnvelope(envelope, trust);
  if (!verified.ok) return verified;
  const short = shortfall(verified.keyIds, role.name, role.keyIds, Math.max(1, minSignatures));
  if (short !== undefined) return { ok: false, code: 'E_APPROVAL', reason: `needs ${short}` };
  return { ok: true, payload: verified.payload, keyIds: verified.keyIds, approvedBy: role.keyIds.filter((k) => verified.keyIds.includes(k)) };
}

/*
 * Central's side. A rollout whose targets need approval retains each device's desired
 * state, signed by the controller, on pendingDesiredTopic; agents never subscribe there.
 * Each approver retains their own signature over that payload on approvalTopic, one topic
 * per key, so two approvers signing at once cannot overwrite each other. The controller
 * publishes the desired state with every valid approval attached once there are enough.
 */

/** Largest approval message accepted, checked before parsing. */
export const APPROVAL_MAX_BYTES = 4096;

/** Retained desired state of one device of a rollout, awaiting approval. */
export function pendingDesiredTopic(prefix: string, rolloutId: string, device: string): string {
  return `${rolloutControllerTopic(prefix, rolloutId)}/pending/${device}`;
}

/** Retained approval by one key of the pending desired state of one device of a rollout. */
export function approvalTopic(prefix: string, rolloutId: string, device: string, keyId: string): string {
  return `${rolloutControllerTopic(prefix, rolloutId)}/approvals/${device}/${keyId}`;
}

/** One approver's signature over a pending desired state (the payload's canonical form, as any envelope signature). */
export const ApprovalMessageSchema = z.strictObject({
  v: z.literal(1),
  device: z.string().regex(DEVICE_ID_PATTERN),
  /** The desired-state counter signed, so a stale approval is recognised without checking its signature. */
  counter: z.number().int().positive(),
  signature: SignatureSchema,
  approvedAt: z.iso.datetime(),
});
export type ApprovalMessage = z.infer<typeof ApprovalMessageSchema>;
