import type { z } from 'zod';

/** The outcome of checking an inbound payload: the value, or a one-line reason naming what was wrong. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Checks size, JSON syntax and schema of an inbound MQTT payload, in that order. */
export function parsePayload<S extends z.ZodType>(schema: S, payload: Buffer, maxBytes: number): ParseResult<z.infer<S>> {
  if (payload.length > maxBytes) return { ok: false, reason: `payload of ${payload.length} bytes exceeds the limit of ${maxBytes}` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: formatIssues(result.error.issues) };
}

/** Formats zod issues as `path: reason; path: reason`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${plainReason(i)}`).join('; ');
}

function plainReason(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  const missing = /^Invalid input: expected (\w+), received undefined$/.exec(issue.message);
  if (missing) return `required (${missing[1]})`;
  return issue.message;
}
