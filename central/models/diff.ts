import { createHash } from 'node:crypto';
import type { ModelManifest } from '../../protocol/manifest.js';
import type { Histogram, ReferenceProfile } from '../../protocol/reference-profile.js';

/*
 * What changed between two manifests, field by field, grouped the way a release is
 * reviewed. Every field of the manifest lands in some section, so a field added to the
 * manifest later shows up here without this file knowing its name. Bulky parts are
 * compared as summaries: the reference profile by its samples, means and shares, goldens
 * by count, tolerance and a digest of their inputs, artifacts by checksum and size.
 */

export const DIFF_SECTIONS = ['identity', 'interface', 'preprocessing', 'labels', 'thresholds', 'lineage', 'metrics', 'reference profile', 'artifacts', 'goldens', 'other'] as const;
export type DiffSection = (typeof DIFF_SECTIONS)[number];

/** One changed value; before or after is undefined when the field is absent on that side. */
export interface Change {
  section: DiffSection;
  path: string;
  before?: unknown;
  after?: unknown;
}

export interface ManifestDiff {
  from: { name: string; version: string; counter: number };
  to: { name: string; version: string; counter: number };
  changes: Change[];
  /** Sections with no change, in DIFF_SECTIONS order. */
  unchanged: DiffSection[];
}

const SECTION_OF: Record<string, DiffSection> = {
  v: 'identity',
  name: 'identity',
  version: 'identity',
  counter: 'identity',
  createdAt: 'identity',
  expiresAt: 'identity',
  task: 'identity',
  minAgentVersion: 'identity',
  arch: 'identity',
  packedBy: 'identity',
  notes: 'identity',
  inputs: 'interface',
  outputs: 'interface',
  preprocess: 'preprocessing',
  labels: 'labels',
  output: 'thresholds',
  budgets: 'thresholds',
  explain: 'thresholds',
  referenceProfile: 'reference profile',
  artifacts: 'artifacts',
  goldens: 'goldens',
};

/** The changes from manifest a to manifest b. */
export function diffManifests(a: ModelManifest, b: ModelManifest): ManifestDiff {
  const changes: Change[] = [];
  const left = comparable(a);
  const right = comparable(b);
  for (const key of union(Object.keys(left), Object.keys(right))) {
    walk(sectionOf(key), key, left[key], right[key], changes);
  }
  const touched = new Set(changes.map((c) => c.section));
  return {
    from: { name: a.name, version: a.version, counter: a.counter },
    to: { name: b.name, version: b.version, counter: b.counter },
    changes,
    unchanged: DIFF_SECTIONS.filter((s) => !touched.has(s)),
  };
}

function sectionOf(key: string): DiffSection {
  if (key.startsWith('lineage.validation.metrics') || key === 'metrics') return 'metrics';
  if (key === 'lineage') return 'lineage';
  // A threshold of any kind (confidence, fallback ...) is reviewed as one.
  if (/threshold|fallback|confidence/i.test(key)) return 'thresholds';
  return SECTION_OF[key] ?? 'other';
}

/** The manifest with bulky parts summarised and validation metrics lifted out of lineage, so they get their own section. */
function comparable(m: ModelManifest): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  out.referenceProfile = m.referenceProfile ? profileSummary(m.referenceProfile) : null;
  out.goldens = {
    count: m.goldens.length,
    tolerance: [...new Set(m.goldens.map((g) => g.tolerance))],
    inputs: m.goldens.length ? createHash('sha256').update(JSON.stringify(m.goldens.map((g) => g.input))).digest('hex').slice(0, 16) : null,
  };
  out.artifacts = Object.fromEntries(m.artifacts.map((x) => [x.path, { role: x.role, sha256: x.sha256, bytes: x.bytes }]));
  if (m.lineage) {
    const { validation, ...rest } = m.lineage;
    out.lineage = validation ? { ...rest, validation: { dataset: validation.dataset } } : rest;
    if (validation) out.metrics = validation.metrics;
  }
  return out;
}

function profileSummary(p: ReferenceProfile): Record<string, unknown> {
  const hist = (h: Histogram) => ({ mean: round(h.mean), std: round(h.std) });
  const outputs = p.outputs.kind === 'classes' ? classShares(p.outputs.labels, p.outputs.counts) : hist(p.outputs.histogram);
  return {
    samples: p.samples,
    ...(p.image ? { image: Object.fromEntries(Object.entries(p.image).map(([k, h]) => [k, hist(h)])) } : {}),
    ...(p.features ? { features: Object.fromEntries(Object.entries(p.features).map(([k, h]) => [k, hist(h)])) } : {}),
    [p.outputs.kind === 'classes' ? 'class shares' : 'scores']: outputs,
    confidence: { top1: hist(p.confidence.top1), entropy: hist(p.confidence.entropy) },
  };
}

function classShares(labels: string[], counts: number[]): Record<string, number> {
  const total = Math.max(1, counts.reduce((s, c) => s + c, 0));
  return Object.fromEntries(labels.map((label, i) => [label, round((counts[i] ?? 0) / total)]));
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

function walk(section: DiffSection, path: string, a: unknown, b: unknown, out: Change[]): void {
  // A part added or removed whole (a reference profile, lineage) is shown field by field.
  if (isRecord(a) && (b === null || b === undefined)) return walk(section, path, a, {}, out);
  if (isRecord(b) && (a === null || a === undefined)) return walk(section, path, {}, b, out);
  if (isLeaf(a) || isLeaf(b)) {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ section, path, ...(a === undefined ? {} : { before: a }), ...(b === undefined ? {} : { after: b }) });
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(section, `${path}[${i}]`, a[i], b[i], out);
    return;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of union(Object.keys(ra), Object.keys(rb))) walk(section === 'other' ? sectionOf(key) : section, `${path}.${key}`, ra[key], rb[key], out);
}

/** Primitives, absent values, mismatched kinds and short arrays of primitives (mean, shape) compare whole. */
function isLeaf(x: unknown): boolean {
  if (x === null || typeof x !== 'object') return true;
  if (Array.isArray(x)) return x.length <= 16 && x.every((v) => v === null || typeof v !== 'object');
  return false;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}
