import { z } from 'zod';
import { formatIssues, parsePayload } from './parse.js';
import { verifyEnvelope, type TrustStore, type VerifyErrorCode } from './signing.js';

/*
 * The order matters: size before parsing, signature before schema. Nothing about an
 * unsigned payload is acted on, not even its schema errors' wording; the schema then runs
 * on the verified payload exactly as signed, so defaults it fills in were never needed
 * to verify anything.
 */

// Any JSON passes the first step; the envelope's own checks are verifyEnvelope's, so their codes stay distinct.
const SIGNED_JSON = z.unknown();

export type OpenErrorCode = 'E_PAYLOAD' | VerifyErrorCode | 'E_SCHEMA';

/** A verified and schema-checked signed message, or why it was refused. */
export type OpenResult<T> =
  | { ok: true; value: T; keyIds: string[]; unknownKeyIds: string[] }
  | { ok: false; code: OpenErrorCode; reason: string };

export interface OpenOptions {
  /** Bytes allowed before anything is parsed. */
  maxBytes: number;
  /** Distinct trusted signatures needed (default 1). */
  minSignatures?: number;
}

/** Checks a signed message's size, JSON, signatures (verifyEnvelope) and then its payload's schema, in that order. */
export function openSigned<S extends z.ZodType>(schema: S, bytes: Buffer, trust: TrustStore, opts: OpenOptions): OpenResult<z.infer<S>> {
  const json = parsePayload(SIGNED_JSON, bytes, opts.maxBytes);
  if (!json.ok) return { ok: false, code: 'E_PAYLOAD', reason: json.reason };
  return checkSigned(schema, json.value, trust, opts);
}

/** Like openSigned for an envelope already parsed from JSON (no size check). */
export function checkSigned<S extends z.ZodType>(
  schema: S,
  envelope: unknown,
  trust: TrustStore,
  opts: { minSignatures?: number } = {},
): OpenResult<z.infer<S>> {
  const verified = verifyEnvelope(envelope, trust, opts.minSignatures === undefined ? {} : { minSignatures: opts.minSignatures });
  if (!verified.ok) return verified;
  const parsed = schema.safeParse(verified.payload);
  if (!parsed.success) return { ok: false, code: 'E_SCHEMA', reason: formatIssues(parsed.error.issues) };
  return { ok: true, value: parsed.data, keyIds: verified.keyIds, unknownKeyIds: verified.unknownKeyIds };
}
