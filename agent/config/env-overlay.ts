import { parse as parseYaml } from 'yaml';

/** Environment variables that override config keys start with this. */
export const ENV_PREFIX = 'EDGE_AGENT__';

/**
 * Applies `EDGE_AGENT__A__B_C=value` as `a.bC = value` on a parsed config object.
 * Each `__`-separated segment is one key, written in UPPER_SNAKE_CASE for the camelCase
 * key (`CLIENT_ID` → `clientId`); a number segment indexes a list (`SOURCES__0__PATH`).
 * Values are read as YAML scalars, so `8080` is a number and `true` a boolean.
 * Returns the names of the variables applied, for the log.
 */
export function applyEnvOverlay(target: Record<string, unknown>, env: NodeJS.ProcessEnv): string[] {
  const applied: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').filter(Boolean).map(toKey);
    if (path.length === 0) continue;
    setPath(target, path, parseScalar(raw));
    applied.push(name);
  }
  return applied.sort();
}

function toKey(segment: string): string | number {
  if (/^\d+$/.test(segment)) return Number(segment);
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseScalar(raw: string): unknown {
  try {
    const v: unknown = parseYaml(raw);
    return v !== null && typeof v === 'object' ? raw : v ?? raw;
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, path: Array<string | number>, value: unknown): void {
  let node: Record<string | number, unknown> = target;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = typeof path[i + 1] === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  });
}
