import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { z } from 'zod';
import { openSigned } from '../../protocol/signed-message.js';
import {
  addSignature,
  keyFingerprint,
  rawPublicKey,
  signEnvelope,
  trustStoreFrom,
  verifyEnvelope,
  type SignedEnvelope,
  type Signer,
  type TrustStore,
} from '../../protocol/signing.js';

function keyPair(keyId: string): { signer: Signer; publicKey: KeyObject; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: { keyId, privateKey }, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const ops = keyPair('ops-2025');
const qa = keyPair('qa.approver');
const intruder = keyPair('intruder');

function trustOf(...pairs: Array<ReturnType<typeof keyPair>>): TrustStore {
  const r = trustStoreFrom(pairs.map((p) => ({ id: p.signer.keyId, publicKey: p.pem })));
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.trust;
}

const trust = trustOf(ops, qa);

function payload() {
  return { v: 1, name: 'defect', version: '1.4.0', counter: 7, artifacts: [{ path: 'model.onnx', sha256: 'ab'.repeat(32), bytes: 13122 }], notes: 'Größe 😀' };
}

/** What arrives after JSON on the wire, so tests never share objects with the signer. */
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function refused(envelope: unknown, code: string, why?: RegExp, opts: { minSignatures?: number } = {}, store: TrustStore = trust): void {
  const r = verifyEnvelope(envelope, store, opts);
  assert.equal(r.ok, false, `expected ${code}`);
  if (r.ok) return;
  assert.equal(r.code, code, r.reason);
  if (why) assert.match(r.reason, why);
}

test('a signed envelope verifies after a JSON round trip, pretty-printed or not', () => {
  const env = signEnvelope(payload(), ops.signer);
  assert.equal(env.signatures.length, 1);
  assert.equal(env.signatures[0]?.alg, 'ed25519');
  for (const received of [wire(env), JSON.parse(JSON.stringify(env, null, 2)) as unknown]) {
    const r = verifyEnvelope(received, trust);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.keyIds, ['ops-2025']);
    assert.deepEqual(r.unknownKeyIds, []);
    assert.deepEqual(r.payload, payload());
  }
});

test('reordering the payload keys does not matter: the signature covers the canonical form', () => {
  const env = wire(signEnvelope(payload(), ops.signer));
  const p = env.payload;
  const reordered = { notes: p.notes, artifacts: [{ bytes: 13122, sha256: 'ab'.repeat(32), path: 'model.onnx' }], counter: p.counter, version: p.version, name: p.name, v: p.v };
  assert.ok(verifyEnvelope({ signatures: env.signatures, payload: reordered }, trust).ok);
});

test('a payload changed after signing is refused as a bad signature', () => {
  const env = wire(signEnvelope(payload(), ops.signer));
  const changes: Array<(p: ReturnType<typeof payload>) => unknown> = [
    (p) => ({ ...p, counter: 8 }),
    (p) => ({ ...p, artifacts: [{ ...p.artifacts[0], bytes: 13123 }] }),
    (p) => ({ ...p, artifacts: [{ ...p.artifacts[0], sha256: 'ba'.repeat(32) }] }),
    (p) => ({ ...p, extra: true }),
    (p) => ({ ...p, notes: undefined }),
    (p) => ({ ...p, notes: 'Grösse 😀' }),
    (p) => ({ ...p, counter: '7' }),
    (p) => [p],
  ];
  for (const change of changes) refused({ ...env, payload: change(wire(env.payload)) }, 'E_BAD_SIGNATURE', /"ops-2025" does not match/);
});

test('unsigned messages are refused as E_UNSIGNED', () => {
  refused(payload(), 'E_UNSIGNED', /no signatures/);
  refused({ payload: payload() }, 'E_UNSIGNED');
  refused({ payload: payload(), signatures: [] }, 'E_UNSIGNED', /empty/);
});

test('a signature from a key the device does not trust is not enough', () => {
  const env = wire(signEnvelope(payload(), intruder.signer));
  refused(env, 'E_UNKNOWN_KEY', /unknown key "intruder"/);
  // An empty trust store trusts nobody.
  refused(wire(signEnvelope(payload(), ops.signer)), 'E_UNKNOWN_KEY', undefined, {}, new Map());
});

test('a signature by another key under a trusted key id is a bad signature, not an unknown key', () => {
  const forged = wire(signEnvelope(payload(), { keyId: 'ops-2025', privateKey: intruder.signer.privateKey }));
  refused(forged, 'E_BAD_SIGNATURE', /"ops-2025"/);
});

test('unknown keys next to a trusted one are ignored but reported', () => {
  const env = wire(addSignature(signEnvelope(payload(), intruder.signer), ops.signer));
  const r = verifyEnvelope(env, trust);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.keyIds, ['ops-2025']);
  assert.deepEqual(r.unknownKeyIds, ['intruder']);
});

test('malformed signatures are refused as E_SIGNATURE_FORMAT', () => {
  const env = wire(signEnvelope(payload(), ops.signer));
  const sig = env.signatures[0]!;
  const cases: Array<[unknown, RegExp]> = [
    [{ ...env, signatures: [{ ...sig, sig: sig.sig.slice(0, 40) }] }, /signatures\.0\.sig: base64 of a 64-byte/],
    [{ ...env, signatures: [{ ...sig, sig: sig.sig.slice(0, -4) }] }, /signatures\.0\.sig/],
    [{ ...env, signatures: [{ ...sig, sig: `${'!'.repeat(86)}==` }] }, /signatures\.0\.sig/],
    [{ ...env, signatures: [{ ...sig, sig: Buffer.from(sig.sig, 'base64').toString('hex') }] }, /signatures\.0\.sig/],
    [{ ...env, signatures: [{ ...sig, alg: 'rsa-sha256' }] }, /signatures\.0\.alg/],
    [{ ...env, signatures: [{ ...sig, alg: 'none' }] }, /signatures\.0\.alg/],
    [{ ...env, signatures: [{ keyId: sig.keyId, sig: sig.sig }] }, /signatures\.0\.alg/],
    [{ ...env, signatures: [{ ...sig, keyId: 'ops 2025' }] }, /signatures\.0\.keyId/],
    [{ ...env, signatures: [{ ...sig, extra: 1 }] }, /signatures\.0/],
    [{ ...env, signatures: [sig, sig] }, /signed twice/],
    [{ ...env, signatures: sig }, /not a list/],
    [{ ...env, signatures: [sig], by: 'me' }, /unknown key "by"/],
    [{ signatures: [sig] }, /no payload/],
    [null, /not a signed envelope/],
    [[env], /not a signed envelope/],
    ['text', /not a signed envelope/],
    [{ ...env, signatures: Array.from({ length: 17 }, () => sig) }, /at most 16/],
  ];
  for (const [envelope, why] of cases) refused(envelope, 'E_SIGNATURE_FORMAT', why);
});

test('minSignatures asks for distinct trusted keys (k-of-n)', () => {
  const one = signEnvelope(payload(), ops.signer);
  refused(wire(one), 'E_UNSIGNED', /needs 2 trusted signatures, has 1/, { minSignatures: 2 });
  refused(wire(addSignature(one, intruder.signer)), 'E_UNKNOWN_KEY', /needs 2/, { minSignatures: 2 });
  const two = wire(addSignature(one, qa.signer));
  const r = verifyEnvelope(two, trust, { minSignatures: 2 });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.deepEqual(r.keyIds, ['ops-2025', 'qa.approver']);
  // A minimum below one never means "accept unsigned".
  refused({ payload: payload(), signatures: [] }, 'E_UNSIGNED', undefined, { minSignatures: 0 });
  // One bad signature among good ones refuses the whole envelope.
  const tampered = wire(two) as SignedEnvelope<ReturnType<typeof payload>>;
  tampered.signatures[1] = { ...tampered.signatures[1]!, sig: tampered.signatures[0]!.sig };
  refused(tampered, 'E_BAD_SIGNATURE', /"qa.approver"/, { minSignatures: 1 });
});

test('signing refuses what cannot be signed', () => {
  const env = signEnvelope(payload(), ops.signer);
  assert.throws(() => addSignature(env, ops.signer), /already signed/);
  assert.throws(() => signEnvelope({ score: NaN }, ops.signer), /no canonical JSON form/);
  assert.throws(() => signEnvelope(payload(), { keyId: 'bad id', privateKey: ops.signer.privateKey }), /key id "bad id"/);
  assert.throws(() => signEnvelope(payload(), { keyId: 'ops', privateKey: ops.publicKey }), /not an Ed25519 private key/);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.throws(() => signEnvelope(payload(), { keyId: 'ec', privateKey: ec.privateKey }), /not an Ed25519 private key/);
});

test('a trust store reads PEM and raw base64 keys, and fingerprints agree', () => {
  const raw = rawPublicKey(ops.publicKey).toString('base64');
  assert.equal(raw.length, 44);
  const r = trustStoreFrom([{ id: 'ops-2025', publicKey: raw }, { id: 'qa.approver', publicKey: `\n${qa.pem}\n` }]);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.ok(verifyEnvelope(wire(signEnvelope(payload(), ops.signer)), r.trust).ok);
  assert.ok(verifyEnvelope(wire(signEnvelope(payload(), qa.signer)), r.trust).ok);
  const fp = keyFingerprint(ops.publicKey);
  assert.match(fp, /^[0-9a-f]{16}$/);
  assert.equal(keyFingerprint(r.trust.get('ops-2025')!), fp);
  assert.equal(keyFingerprint(ops.signer.privateKey), fp, 'a private key has its public half’s fingerprint');
  assert.notEqual(keyFingerprint(qa.publicKey), fp);
});

test('a trust store refuses bad entries with the entry named', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const privatePem = ops.signer.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cases: Array<[Array<{ id: string; publicKey: string }>, RegExp]> = [
    [[{ id: 'bad id', publicKey: ops.pem }], /trusted key 0 \("bad id"\): the id/],
    [[{ id: 'a', publicKey: ops.pem }, { id: 'a', publicKey: qa.pem }], /trusted key 1 \("a"\): the id is given twice/],
    [[{ id: 'a', publicKey: ops.pem }, { id: 'b', publicKey: rawPublicKey(ops.publicKey).toString('base64') }], /already trusted as "a"/],
    [[{ id: 'a', publicKey: privatePem }], /private key/],
    [[{ id: 'a', publicKey: 'not a key' }], /neither PEM text nor/],
    [[{ id: 'a', publicKey: Buffer.alloc(31).toString('base64') }], /neither PEM/],
    [[{ id: 'a', publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }], /not a readable public key/],
    [[{ id: 'a', publicKey: ec }], /only Ed25519/],
  ];
  for (const [keys, why] of cases) {
    const r = trustStoreFrom(keys);
    assert.equal(r.ok, false, String(why));
    if (!r.ok) {
      assert.equal(r.code, 'E_TRUST_KEY');
      assert.match(r.reason, why);
    }
  }
});

test('openSigned checks size, JSON and signature before the schema', () => {
  const Schema = z.strictObject({ v: z.literal(1), name: z.string() });
  const good = Buffer.from(JSON.stringify(signEnvelope({ v: 1, name: 'defect' }, ops.signer)));
  const opened = openSigned(Schema, good, trust, { maxBytes: 4096 });
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  assert.equal(opened.value.name, 'defect');

  const expect = (bytes: Buffer, code: string, max = 4096) => {
    const r = openSigned(Schema, bytes, trust, { maxBytes: max });
    assert.equal(r.ok ? 'ok' : r.code, code);
  };
  expect(good, 'E_PAYLOAD', 100);
  expect(Buffer.from('{"payload":'), 'E_PAYLOAD');
  // Unsigned and schema-invalid: the signature is what is reported, the schema is never looked at.
  expect(Buffer.from(JSON.stringify({ payload: { v: 2 } })), 'E_UNSIGNED');
  expect(Buffer.from(JSON.stringify(signEnvelope({ v: 2, name: 'defect' }, ops.signer))), 'E_SCHEMA');
  expect(Buffer.from(JSON.stringify(signEnvelope({ v: 1, name: 'defect' }, intruder.signer))), 'E_UNKNOWN_KEY');
});
