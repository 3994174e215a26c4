/*
 * Semantic versions (semver.org 2.0.0), for model versions and the agent version a model
 * needs. Written out here rather than taken from a package: the rules are short, and the
 * agent must not depend on a library's idea of "loose" versions when it compares a signed field.
 */

/** The official semver 2.0.0 pattern: MAJOR.MINOR.PATCH, optional -prerelease and +build. */
export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** A parsed semantic version; build metadata is kept but never affects precedence. */
export interface Semver {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly string[];
  readonly build: readonly string[];
}

/** The parts of a semantic version, or undefined when text is not one (no leading "v", no missing parts). */
export function parseSemver(text: string): Semver | undefined {
  if (text.length > 256) return undefined;
  const m = SEMVER_PATTERN.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Beyond 2^53 two different versions would compare equal.
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { major, minor, patch, prerelease: m[4]?.split('.') ?? [], build: m[5]?.split('.') ?? [] };
}

/** True when text is a semantic version. */
export function isSemver(text: string): boolean {
  return parseSemver(text) !== undefined;
}

/** Semver precedence: negative when a < b, 0 when equal (build metadata ignored), positive when a > b; throws a RangeError on a non-version. */
export function compareSemver(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x) throw new RangeError(`"${a}" is not a semantic version`);
  if (!y) throw new RangeError(`"${b}" is not a semantic version`);
  return Math.sign(x.major - y.major || x.minor - y.minor || x.patch - y.patch || comparePrerelease(x.prerelease, y.prerelease));
}

/** A release outranks its prereleases; identifiers compare numerically when both are numbers, numbers rank below text. */
function comparePrerelease(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return b.length - a.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const p = a[i]!;
    const q = b[i]!;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    // Numeric identifiers have no leading zeros, so the longer is larger; equal lengths compare by digits, at any size.
    if (pn && qn) return p.length - q.length || (p < q ? -1 : 1);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return a.length - b.length;
}
