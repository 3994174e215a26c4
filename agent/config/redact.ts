/** Keys whose values never appear in output or logs. */
const SECRET_KEYS = /^(password|token|secret|key|privateKey|passphrase)$/i;

/** A deep copy with secret values replaced, for `check-config` and the start-up log. */
export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redact(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEYS.test(k) && typeof v === 'string' && !looksLikePath(k, v) ? '[redacted]' : redact(v);
  }
  return out as T;
}

/** TLS `key` is a path to a PEM file, which is fine to show; inline PEM is not. */
function looksLikePath(key: string, v: string): boolean {
  return key === 'key' && !v.includes('-----BEGIN');
}
