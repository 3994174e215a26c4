import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { ApprovalPolicySchema, checkApprovals, rulesFor, verifyRoleSignatures, type ApprovalPolicy } from '../../protocol/approvals.js';
import type { DesiredState } from '../../protocol/desired-state.js';
import { addSignature, signEnvelope, trustStoreFrom, verifyEnvelope, type SignedEnvelope, type Signer, type TrustStore } from '../../protocol/signing.js';

function keyPair(keyId: string): { signer: Signer; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: { keyId, privateKey }, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const ops = keyPair('ops');
const alice = keyPair('ds-alice');
const bob = keyPair('qe-bob');
const carol = keyPair('carol');

function trustOf(...pairs: Array<ReturnType<typeof keyPair>>): TrustStore {
  const r = trustStoreFrom(pairs.map((p) => ({ id: p.signer.keyId, publicKey: p.pem })));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.trust;
}

const trust = trustOf(ops, alice, bob, carol);
const approver = { name: 'approver', keyIds: ['ds-alice', 'qe-bob'] };
const desired: DesiredState = { v: 1, target: { kind: 'device', id: 'gw-1' }, counter: 12, issuedAt: '2026-01-01T00:00:00.000Z', models: [{ name: 'defect', version: '1.5.0', counter: 8 }] };

function signedBy(...pairs: Array<ReturnType<typeof keyPair>>): SignedEnvelope<DesiredState> {
  let env = signEnvelope(desired, pairs[0]!.signer);
  for (const p of pairs.slice(1)) env = addSignature(env, p.signer);
  return env;
}

test('two of two approvers accept; the role counts its members only', () => {
  const r = verifyRoleSignatures(signedBy(ops, alice, bob), trust, approver, 2);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.approvedBy, ['ds-alice', 'qe-bob']);
  assert.deepEqual(r.keyIds, ['ops', 'ds-alice', 'qe-bob']);
});

test('one of two required approvals is refused, naming who has not signed', () => {
  const r = verifyRoleSignatures(signedBy(ops, alice), trust, approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_APPROVAL');
  assert.match(!r.ok ? r.reason : '', /needs 2 signatures from role "approver", found 1 \(ds-alice\); not yet signed by qe-bob/);
});

test('the same key twice is refused, not counted twice', () => {
  const once = signedBy(ops, alice);
  const twice = { payload: once.payload, signatures: [...once.signatures, once.signatures[1]!] };
  const r = verifyRoleSignatures(twice, trust, approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_SIGNATURE_FORMAT');
  assert.match(!r.ok ? r.reason : '', /key "ds-alice" signed twice/);
  assert.throws(() => addSignature(once, alice.signer), /already signed/);
});

test('a trusted key outside the role does not count', () => {
  const r = verifyRoleSignatures(signedBy(ops, alice, carol), trust, approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_APPROVAL');
  assert.match(!r.ok ? r.reason : '', /signatures outside the role do not count \(ops, carol\)/);
});

test('a role member whose key the verifier does not trust does not count', () => {
  const r = verifyRoleSignatures(signedBy(ops, alice, bob), trustOf(ops, alice), approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_APPROVAL');
});

test('a key with the id of a role member but another key pair is a bad signature', () => {
  const fakeBob = keyPair('qe-bob');
  const r = verifyRoleSignatures(signedBy(ops, alice, fakeBob), trust, approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_BAD_SIGNATURE');
});

test('a payload changed after approval is refused, and so is an approval copied from another payload', () => {
  const approved = signedBy(ops, alice, bob);
  const tampered = { ...approved, payload: { ...approved.payload, models: [{ name: 'defect', version: '6.6.6', counter: 8 }] } };
  const r = verifyRoleSignatures(tampered, trust, approver, 2);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, 'E_BAD_SIGNATURE');

  const other = signEnvelope({ ...desired, counter: 13 }, bob.signer);
  const spliced = { payload: desired, signatures: [...signedBy(ops, alice).signatures, other.signatures[0]!] };
  const s = verifyRoleSignatures(spliced, trust, approver, 2);
  assert.equal(s.ok, false);
  assert.equal(!s.ok && s.code, 'E_BAD_SIGNATURE');
  assert.match(!s.ok ? s.reason : '', /qe-bob/);
});

const policy: ApprovalPolicy = ApprovalPolicySchema.parse({
  roles: { approver: ['ds-alice', 'qe-bob'], quality: ['carol'] },
  rules: [
    { target: 'site:plant-a', role: 'approver', minSignatures: 2 },
    { target: 'group:line-3', role: 'quality', minSignatures: 1 },
  ],
});

test('rules apply to the devices of their site or group, whatever target the desired state names', () => {
  assert.deepEqual(rulesFor(policy, { id: 'gw-1', site: 'plant-a' }).map((r) => r.target), ['site:plant-a']);
  assert.deepEqual(rulesFor(policy, { id: 'gw-2', site: 'plant-b', group: 'line-3' }).map((r) => r.target), ['group:line-3']);
  assert.deepEqual(rulesFor(policy, { id: 'gw-3', site: 'plant-b' }), []);
  assert.deepEqual(checkApprovals(['ops'], policy, { id: 'gw-3', site: 'plant-b' }), { ok: true });

  const signers = verifyEnvelope(signedBy(ops, alice), trust);
  assert.ok(signers.ok);
  const refused = checkApprovals(signers.keyIds, policy, { id: 'gw-1', site: 'plant-a' });
  assert.equal(refused.ok, false);
  assert.match(!refused.ok ? refused.reason : '', /^site:plant-a requires 2 signatures from role "approver", found 1 \(ds-alice\)/);
  assert.deepEqual(checkApprovals(['ops', 'ds-alice', 'qe-bob'], policy, { id: 'gw-1', site: 'plant-a' }), { ok: true });
  // Both rules apply to a device of plant-a on line 3: each must hold.
  const both = checkApprovals(['ds-alice', 'qe-bob'], policy, { id: 'gw-4', site: 'plant-a', group: 'line-3' });
  assert.match(!both.ok ? both.reason : '', /^group:line-3 requires 1 signature from role "quality", found 0; not yet signed by carol/);
});

test('a rule aimed at anything but a site or a group is refused', () => {
  const bad = ApprovalPolicySchema.safeParse({
    roles: { approver: ['ds-alice', 'ds-alice'] },
    rules: [
      { target: 'site:plant-a', role: 'nobody', minSignatures: 1 },
      { target: 'site:plant-a', role: 'approver', minSignatures: 3 },
      { target: 'device:gw-1', role: 'approver', minSignatures: 1 },
    ],
  });
  assert.equal(bad.success, false);
  const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.ok(messages.some((m) => m === 'rules.2.target: site:ID or group:ID'), messages.join('\n'));
});

test('a policy whose rule names no role, asks more signatures than the role has, or lists a key twice is refused', () => {
  const bad = ApprovalPolicySchema.safeParse({
    roles: { approver: ['ds-alice', 'ds-alice'] },
    rules: [
      { target: 'site:plant-a', role: 'nobody', minSignatures: 1 },
      { target: 'site:plant-a', role: 'approver', minSignatures: 3 },
    ],
  });
  assert.equal(bad.success, false);
  const messages = bad.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  assert.deepEqual(messages, [
    'roles.approver: a key is listed twice',
    'rules.0.role: no role "nobody" among roles',
    'rules.1.minSignatures: role "approver" has 2 key(s); 3 signatures could never be given',
  ]);
});

test('the agent config refuses a role member that is not a trusted key, naming where', async () => {
  const { RolloutSchema } = await import('../../agent/config/rollout-schema.js');
  const parsed = RolloutSchema.safeParse({
    enabled: true,
    trustedKeys: [{ id: 'ops', publicKey: ops.pem }, { id: 'ds-alice', publicKey: alice.pem }],
    approvals: { roles: { approver: ['ds-alice', 'qe-bob'] }, rules: [{ target: 'site:plant-a', role: 'approver', minSignatures: 2 }] },
  });
  assert.equal(parsed.success, false);
  assert.deepEqual(parsed.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`), ['approvals.roles.approver: key "qe-bob" is not among trustedKeys']);
  const none = RolloutSchema.parse({});
  assert.deepEqual(none.approvals, { roles: {}, rules: [] }, 'no approvals unless configured');
});
