/*
 * Distances between a reference distribution and a live window, both given as counts over
 * the same bins (the reference's quantile bins, or the classes). Small probabilities are
 * floored so an empty bin gives a large but finite PSI rather than infinity.
 */

const FLOOR = 1e-4;

function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => Math.max(FLOOR, total > 0 ? c / total : 0));
}

/** Population stability index: Σ (q − p)·ln(q / p). Rules of thumb: < 0.1 stable, > 0.25 shifted. */
export function psi(reference: readonly number[], live: readonly number[]): number {
  const p = shares(reference);
  const q = shares(live);
  let sum = 0;
  for (let i = 0; i < p.length; i++) sum += (q[i]! - p[i]!) * Math.log(q[i]! / p[i]!);
  return sum;
}

/** Kolmogorov–Smirnov statistic from binned data: the largest gap between the two cumulative shares. */
export function ks(reference: readonly number[], live: readonly number[]): number {
  const rt = reference.reduce((a, b) => a + b, 0) || 1;
  const lt = live.reduce((a, b) => a + b, 0) || 1;
  let cr = 0;
  let cl = 0;
  let max = 0;
  for (let i = 0; i < reference.length; i++) {
    cr += reference[i]! / rt;
    cl += (live[i] ?? 0) / lt;
    max = Math.max(max, Math.abs(cr - cl));
  }
  return max;
}

/** Jensen–Shannon distance (square root of the divergence, base 2): 0 same, 1 disjoint. */
export function jensenShannon(reference: readonly number[], live: readonly number[]): number {
  const p = shares(reference);
  const q = shares(live);
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    const m = (pi + qi) / 2;
    d += 0.5 * pi * Math.log2(pi / m) + 0.5 * qi * Math.log2(qi / m);
  }
  return Math.sqrt(Math.max(0, d));
}

/** Pearson's chi-square of live class counts against the reference class shares, and its p-value. */
export function chiSquare(reference: readonly number[], live: readonly number[]): { statistic: number; pValue: number } {
  const p = shares(reference);
  const sp = p.reduce((a, b) => a + b, 0);
  const n = live.reduce((a, b) => a + b, 0);
  let statistic = 0;
  for (let i = 0; i < p.length; i++) {
    const expected = (n * p[i]!) / sp;
    statistic += ((live[i] ?? 0) - expected) ** 2 / expected;
  }
  const df = Math.max(1, p.length - 1);
  return { statistic, pValue: 1 - regularizedGammaP(df / 2, statistic / 2) };
}

/** P(a, x), the regularised lower incomplete gamma function (Numerical Recipes' series and continued fraction). */
function regularizedGammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lnPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let k = 1; k < 500; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-14) break;
    }
    return Math.min(1, sum * Math.exp(lnPrefix));
  }
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-14) break;
  }
  return Math.max(0, 1 - Math.exp(lnPrefix) * h);
}

/** ln Γ(x), Lanczos approximation. */
function logGamma(x: number): number {
  const g = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const c of g) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}
