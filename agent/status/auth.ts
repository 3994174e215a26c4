import { createHash, timingSafeEqual } from 'node:crypto';

export type ActionCheck = { ok: true } | { ok: false; status: 401 | 403; error: string };

export const ACTIONS_DISABLED = 'actions are disabled: no token configured';
export const TOKEN_REQUIRED = 'a valid "Authorization: Bearer <token>" header is required';

/**
 * Whether a request may run an action. Without a configured token nothing can unlock
 * actions (403); with one, the request must carry it as a bearer token (401 otherwise).
 */
export function checkAction(authorization: string | undefined, token: string | undefined): ActionCheck {
  if (token === undefined) return { ok: false, status: 403, error: ACTIONS_DISABLED };
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  if (!match?.[1] || !sameSecret(match[1], token)) return { ok: false, status: 401, error: TOKEN_REQUIRED };
  return { ok: true };
}

/**
 * Constant-time comparison. Hashing first gives both sides the same length, so neither
 * the content nor the length of the token leaks through timing.
 */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
