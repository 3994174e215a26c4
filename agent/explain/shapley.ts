import type { Turn } from './occlusion.js';

/** A model over feature rows: one number (the explained output) per row, in order. */
export type RowPredictor = (rows: readonly Float32Array[]) => Promise<ArrayLike<number>>;

export interface ShapleyOptions {
  /** Reference rows; a feature outside a coalition takes each background row's value in turn. */
  background: readonly (readonly number[])[];
  /** Every coalition is evaluated up to this many features; beyond, KernelSHAP samples. */
  exactUpTo: number;
  /** Coalitions KernelSHAP samples (in complementary pairs). */
  samples: number;
  /** Rows per `predict` call. */
  batchRows: number;
  random: () => number;
  turn?: Turn;
}

export interface ShapleyResult {
  values: number[];
  /** Mean output over the background: the value with no feature known. */
  baseValue: number;
  /** The output for the row itself. */
  prediction: number;
  exact: boolean;
  coalitions: number;
}

/**
 * The value of a coalition is the model's mean output over the background rows with the
 * coalition's features set to the row's values (interventional Shapley values). Many
 * coalitions are evaluated in `predict` calls of about `batchRows` rows.
 */
class CoalitionValues {
  constructor(
    private readonly x: readonly number[],
    private readonly predict: RowPredictor,
    private readonly o: ShapleyOptions,
  ) {}

  async values(masks: readonly Uint8Array[]): Promise<Float64Array> {
    const bg = this.o.background;
    const out = new Float64Array(masks.length);
    const perCall = Math.max(1, Math.floor(this.o.batchRows / bg.length));
    for (let start = 0; start < masks.length; start += perCall) {
      const chunk = masks.slice(start, start + perCall);
      const rows: Float32Array[] = [];
      for (const mask of chunk) {
        for (const b of bg) rows.push(Float32Array.from(b, (v, i) => (mask[i] ? this.x[i]! : v)));
      }
      const run = () => this.predict(rows);
      const y = await (this.o.turn ? this.o.turn(run) : run());
      if (y.length !== rows.length) throw new Error(`the model gave ${y.length} outputs for ${rows.length} rows`);
      chunk.forEach((_, k) => {
        let sum = 0;
        for (let j = 0; j < bg.length; j++) sum += y[k * bg.length + j]!;
        out[start + k] = sum / bg.length;
      });
    }
    return out;
  }
}

/** Shapley values of `x`: exact over all 2^M coalitions for M ≤ exactUpTo features, else sampled KernelSHAP. */
export async function shapleyValues(x: readonly number[], predict: RowPredictor, o: ShapleyOptions): Promise<ShapleyResult> {
  const m = x.length;
  if (m === 0) throw new Error('no features to explain');
  if (o.background.length === 0) throw new Error('Shapley values need at least one background row');
  for (const [k, b] of o.background.entries()) {
    if (b.length !== m) throw new Error(`background row ${k} has ${b.length} values, the row ${m}`);
    if (!b.every(Number.isFinite)) throw new Error(`background row ${k} holds a value that is not a finite number`);
  }
  const v = new CoalitionValues(x, predict, o);
  return m <= o.exactUpTo ? exact(m, v) : kernel(m, v, o);
}

async function exact(m: number, v: CoalitionValues): Promise<ShapleyResult> {
  const n = 1 << m;
  const masks = Array.from({ length: n }, (_, s) => Uint8Array.from({ length: m }, (_, i) => (s >> i) & 1));
  const value = await v.values(masks);
  // weight[k] = k!(m−k−1)!/m!, the share of orderings in which a coalition of size k precedes feature i.
  const weight: number[] = [];
  for (let k = 0; k < m; k++) weight.push(1 / (m * binomial(m - 1, k)));
  const phi = new Array<number>(m).fill(0);
  for (let s = 0; s < n; s++) {
    const size = popcount(s);
    for (let i = 0; i < m; i++) {
      if (s & (1 << i)) continue;
      phi[i]! += weight[size]! * (value[s | (1 << i)]! - value[s]!);
    }
  }
  return { values: phi, baseValue: value[0]!, prediction: value[n - 1]!, exact: true, coalitions: n };
}

/**
 * KernelSHAP (Lundberg and Lee 2017): coalition sizes drawn with the Shapley kernel's
 * weight (M − 1) / (s (M − s)), each with its complement, then a least-squares fit of
 * v(z) − v(∅) ≈ Σ z_i φ_i under Σ φ_i = v(N) − v(∅), so additivity holds exactly.
 */
async function kernel(m: number, v: CoalitionValues, o: ShapleyOptions): Promise<ShapleyResult> {
  const sizeWeight: number[] = [];
  for (let s = 1; s < m; s++) sizeWeight.push((m - 1) / (s * (m - s)));
  const total = sizeWeight.reduce((a, b) => a + b, 0);
  const masks: Uint8Array[] = [new Uint8Array(m), new Uint8Array(m).fill(1)];
  const pairs = Math.max(m, Math.ceil(o.samples / 2));
  for (let p = 0; p < pairs; p++) {
    let r = o.random() * total;
    let size = 1;
    while (size < m - 1 && r > sizeWeight[size - 1]!) r -= sizeWeight[size++ - 1]!;
    const order = shuffled(m, o.random);
    const mask = new Uint8Array(m);
    for (let k = 0; k < size; k++) mask[order[k]!] = 1;
    masks.push(mask, mask.map((b) => 1 - b));
  }
  const value = await v.values(masks);
  const base = value[0]!;
  const full = value[1]!;
  const delta = full - base;
  // Eliminate the last feature with the constraint: φ_last = Δ − Σ φ_i.
  const k = m - 1;
  const ata = Array.from({ length: k }, () => new Float64Array(k));
  const atb = new Float64Array(k);
  for (let s = 2; s < masks.length; s++) {
    const z = masks[s]!;
    const y = value[s]! - base - z[k]! * delta;
    for (let i = 0; i < k; i++) {
      const ai = z[i]! - z[k]!;
      if (ai === 0) continue;
      atb[i]! += ai * y;
      for (let j = 0; j < k; j++) ata[i]![j]! += ai * (z[j]! - z[k]!);
    }
  }
  for (let i = 0; i < k; i++) ata[i]![i]! += 1e-9;
  const phi = solve(ata, atb);
  phi.push(delta - phi.reduce((a, b) => a + b, 0));
  return { values: phi, baseValue: base, prediction: full, exact: false, coalitions: masks.length };
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

function popcount(s: number): number {
  let c = 0;
  for (let v = s; v; v &= v - 1) c++;
  return c;
}

function shuffled(n: number, random: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Gaussian elimination with partial pivoting; `a` and `b` are overwritten. */
function solve(a: Float64Array[], b: Float64Array): number[] {
  const n = b.length;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    [b[col], b[pivot]] = [b[pivot]!, b[col]!];
    const d = a[col]![col]!;
    if (d === 0) throw new Error('KernelSHAP: the sampled coalitions do not determine every feature; sample more');
    for (let r = col + 1; r < n; r++) {
      const f = a[r]![col]! / d;
      if (f === 0) continue;
      for (let c = col; c < n; c++) a[r]![c]! -= f * a[col]![c]!;
      b[r]! -= f * b[col]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let c = r + 1; c < n; c++) s -= a[r]![c]! * x[c]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}
