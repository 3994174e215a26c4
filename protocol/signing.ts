import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes } from './canonical.js';

/*
 * Ed25519 envelopes. The signature covers canonicalJson(payload), never the bytes as they
 * arrived, so pretty-printing or reordering keys in transit does not break a signature and
 * no two different payloads share one. `signatures` is a list so that a later rule can ask
 * for k-of-n approvals without changing the wire format.
 */

/** Key ids are names ops choose ("plant-north-2025"); one id names one key in a trust store. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The only signature algorithm; anything else in `alg` is refused, never ignored. */
export const SIGNATURE_ALG = 'ed25519';

/** More signatures than this on one envelope is refused: there is no plant with that many approvers. */
export const MAX_SIGNATURES = 16;

/** Canonical base64 of the 64 bytes of an Ed25519 signature (the last char carries 2 bits, so only A/Q/g/w). */
const SIG_BASE64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

/** One signature of an envelope's payload. */
export const SignatureSchema = z.strictObject({
  keyId: z.string().regex(KEY_ID_PATTERN, 'letters, digits, . _ - only (1 to 64)'),
  alg: z.literal(SIGNATURE_ALG),
  sig: z.string().regex(SIG_BASE64, 'base64 of a 64-byte Ed25519 signature'),
});
export type Signature = z.infer<typeof SignatureSchema>;

/** A signed message as it travels: the payload in the clear and the signatures over its canonical form. */
export interface SignedEnvelope<T> {
  payload: T;
  signatures: Signature[];
}

/** A private key and the name verifiers know its public half by. */
export interface Signer {
  keyId: string;
  privateKey: KeyObject;
}

/** The public keys a verifier trusts, by key id. */
export type TrustStore = ReadonlyMap<string, KeyObject>;

/** A trusted key as ops write it in a config file: PEM text (SPKI) or the base64 of the raw 32-byte key. */
export const TrustedKeySchema = z.strictObject({
  id: z.string().regex(KEY_ID_PATTERN, 'letters, digits, . _ - only (1 to 64)'),
  publicKey: z.string().min(1).max(4096),
});
export type TrustedKey = z.infer<typeof TrustedKeySchema>;

export type VerifyErrorCode = 'E_UNSIGNED' | 'E_UNKNOWN_KEY' | 'E_BAD_SIGNATURE' | 'E_SIGNATURE_FORMAT';

/** What verifying an envelope found: the payload and who signed it, or why it must be refused. */
export type VerifyResult =
  | { ok: true; payload: unknown; keyIds: string[]; unknownKeyIds: string[] }
  | { ok: false; code: VerifyErrorCode; reason: string };

/** A new envelope holding payload and one signature by signer; throws a TypeError for a bad key id, a non-Ed25519 key or a payload with no canonical form. */
export function signEnvelope<T>(payload: T, signer: Signer): SignedEnvelope<T> {
  return { payload, signatures: [signatureBy(payload, signer)] };
}

/** A copy of envelope with one more signature (for k-of-n approvals); throws a TypeError when signer's key id already signed it. */
export function addSignature<T>(envelope: SignedEnvelope<T>, signer: Signer): SignedEnvelope<T> {
  if (envelope.signatures.some((s) => s.keyId === signer.keyId)) throw new TypeError(`key "${signer.keyId}" has already signed this envelope`);
  if (envelope.signatures.length >= MAX_SIGNATURES) throw new TypeError(`an envelope carries at most ${MAX_SIGNATURES} signatures`);
  return { payload: envelope.payload, signatures: [...envelope.signatures, signatureBy(envelope.payload, signer)] };
}

function signatureBy(payload: unknown, signer: Signer): Signature {
  if (!KEY_ID_PATTERN.test(signer.keyId)) throw new TypeError(`key id "${signer.keyId}": letters, digits, . _ - only (1 to 64)`);
  const key = signer.privateKey;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`key "${signer.keyId}" is not an Ed25519 private key (${key.type} ${key.asymmetricKeyType ?? 'secret'})`);
  }
  // Ed25519 hashes internally; node:crypto takes null as the digest for it.
  return { keyId: signer.keyId, alg: SIGNATURE_ALG, sig: sign(null, canonicalBytes(payload), key).toString('base64') };
}

/**
 * Verifies envelope against trust. Every signature must be well formed; one from a key id
 * not in trust is skipped and reported in unknownKeyIds; a bad signature under a trusted id
 * refuses the whole envelope. At least minSignatures (default 1, never less) distinct
 * trusted keys must have signed: too few is E_UNKNOWN_KEY when unknown keys signed, else E_UNSIGNED.
 */
export function verifyEnvelope(envelope: unknown, trust: TrustStore, opts: { minSignatures?: number } = {}): VerifyResult {
  const fail = (code: VerifyErrorCode, reason: string): VerifyResult => ({ ok: false, code, reason });
  if (envelope === null || typeof envelope !== 'object' || Array.isArray(envelope)) return fail('E_SIGNATURE_FORMAT', 'not a signed envelope (a JSON object with payload and signatures)');
  const env = envelope as Record<string, unknown>;
  if (!('signatures' in env)) return fail('E_UNSIGNED', 'the message carries no signatures');
  if (!('payload' in env) || env.payload === undefined) return fail('E_SIGNATURE_FORMAT', 'the envelope has no payload');
  const extra = Object.keys(env).filter((k) => k !== 'payload' && k !== 'signatures');
  if (extra.length > 0) return fail('E_SIGNATURE_FORMAT', `unknown key${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')} in the envelope`);
  if (!Array.isArray(env.signatures)) return fail('E_SIGNATURE_FORMAT', 'signatures is not a list');
  if (env.signatures.length === 0) return fail('E_UNSIGNED', 'the list of signatures is empty');
  if (env.signatures.length > MAX_SIGNATURES) return fail('E_SIGNATURE_FORMAT', `${env.signatures.length} signatures; at most ${MAX_SIGNATURES}`);

  const signatures: Signature[] = [];
  for (const [i, raw] of env.signatures.entries()) {
    const parsed = SignatureSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      return fail('E_SIGNATURE_FORMAT', `signatures.${i}${where}: ${issue?.message ?? 'malformed'}`);
    }
    // The same key twice would count twice towards k-of-n.
    if (signatures.some((s) => s.keyId === parsed.data.keyId)) return fail('E_SIGNATURE_FORMAT', `signatures.${i}: key "${parsed.data.keyId}" signed twice`);
    signatures.push(parsed.data);
  }

  let message: Buffer;
  try {
    message = canonicalBytes(env.payload);
  } catch (err) {
    return fail('E_SIGNATURE_FORMAT', `the payload cannot be verified: ${(err as Error).message}`);
  }

  const keyIds: string[] = [];
  const unknownKeyIds: string[] = [];
  for (const s of signatures) {
    const key = trust.get(s.keyId);
    if (!key) {
      unknownKeyIds.push(s.keyId);
      continue;
    }
    let valid: boolean;
    try {
      valid = verify(null, message, key, Buffer.from(s.sig, 'base64'));
    } catch (err) {
      // Only reachable with a hand-built trust store holding a non-Ed25519 key.
      return fail('E_BAD_SIGNATURE', `trusted key "${s.keyId}" cannot verify an Ed25519 signature: ${(err as Error).message}`);
    }
    if (!valid) return fail('E_BAD_SIGNATURE', `the signature of trusted key "${s.keyId}" does not match the payload`);
    keyIds.push(s.keyId);
  }

  const needed = Math.max(1, Math.floor(opts.minSignatures ?? 1));
  if (keyIds.length < needed) {
    const seen = `${keyIds.length} trusted signature${keyIds.length === 1 ? '' : 's'}${keyIds.length ? ` (${keyIds.join(', ')})` : ''}`;
    const unknown = unknownKeyIds.length ? `; signed by unknown key${unknownKeyIds.length > 1 ? 's' : ''} ${unknownKeyIds.map((k) => `"${k}"`).join(', ')}` : '';
    return fail(unknownKeyIds.length ? 'E_UNKNOWN_KEY' : 'E_UNSIGNED', `needs ${needed} trusted signature${needed > 1 ? 's' : ''}, has ${seen}${unknown}`);
  }
  return { ok: true, payload: env.payload, keyIds, unknownKeyIds };
}

/** Reads one public key: SPKI PEM text, or the base64 of the raw 32-byte Ed25519 key; refuses private keys and other key types. */
export function publicKeyFrom(text: string): { ok: true; key: KeyObject } | { ok: false; reason: string } {
  const trimmed = text.trim();
  // createPublicKey would happily derive the public half from a private key: a secret copied onto every gateway.
  if (/PRIVATE KEY/.test(trimmed)) return { ok: false, reason: 'this is a private key; give the public key (the .pub file)' };
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } else {
      if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(trimmed)) return { ok: false, reason: 'neither PEM text nor the base64 of a 32-byte Ed25519 key' };
      const x = Buffer.from(trimmed, 'base64').toString('base64url');
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    }
  } catch (err) {
    return { ok: false, reason: `not a readable public key: ${(err as Error).message}` };
  }
  if (key.asymmetricKeyType !== 'ed25519') return { ok: false, reason: `an ${key.asymmetricKeyType ?? 'unknown'} key; only Ed25519 keys sign models` };
  return { ok: true, key };
}

/** Builds a trust store; refuses a malformed id or key, a repeated id, and one key under two ids (it would count twice towards k-of-n). */
export function trustStoreFrom(keys: ReadonlyArray<{ id: string; publicKey: string }>): { ok: true; trust: TrustStore } | { ok: false; code: 'E_TRUST_KEY'; reason: string } {
  const trust = new Map<string, KeyObject>();
  const idsByFingerprint = new Map<string, string>();
  for (const [i, entry] of keys.entries()) {
    const fail = (why: string) => ({ ok: false as const, code: 'E_TRUST_KEY' as const, reason: `trusted key ${i} ("${entry.id}"): ${why}` });
    if (!KEY_ID_PATTERN.test(entry.id)) return fail('the id must be letters, digits, . _ - only (1 to 64)');
    if (trust.has(entry.id)) return fail('the id is given twice');
    const read = publicKeyFrom(entry.publicKey);
    if (!read.ok) return fail(read.reason);
    const fingerprint = createHash('sha256').update(rawPublicKey(read.key)).digest('hex');
    const other = idsByFingerprint.get(fingerprint);
    if (other !== undefined) return fail(`the same key is already trusted as "${other}"`);
    idsByFingerprint.set(fingerprint, entry.id);
    trust.set(entry.id, read.key);
  }
  return { ok: true, trust };
}

/** The raw 32 bytes of an Ed25519 public key (of a private key: its public half). */
export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { x } = publicKey.export({ format: 'jwk' });
  if (publicKey.asymmetricKeyType !== 'ed25519' || typeof x !== 'string') throw new TypeError('not an Ed25519 key');
  return Buffer.from(x, 'base64url');
}

/** A short fingerprint for display and comparison by eye: the first 16 hex digits of sha256 over the raw public key. */
export function keyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}
