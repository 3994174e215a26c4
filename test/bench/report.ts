import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { median, spread } from './stats.js';

/** A limit on a figure's ratio to its baseline, or on its own value. */
export interface Target {
  of: 'ratio' | 'value';
  op: '>=' | '<=';
  limit: number;
}

export interface Figure {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /** The agent's median over the repetitions. */
  value: number;
  /** The bare loop's median over the same repetitions. */
  baseline: number;
  baselineName: string;
  ratio: number;
  min: number;
  median: number;
  max: number;
  baselineMin: number;
  baselineMax: number;
  reps: number;
  target: string | null;
  targetMet: boolean | null;
  note?: string;
}

export interface FigureInput {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  agent: readonly number[];
  baseline: readonly number[];
  baselineName: string;
  target?: Target;
  note?: string;
}

export function figure(f: FigureInput): Figure {
  const a = spread(f.agent);
  const b = spread(f.baseline);
  const baseline = median(f.baseline);
  const ratio = a.median / baseline;
  const t = f.target;
  const checked = t ? (t.of === 'ratio' ? ratio : a.median) : undefined;
  return {
    name: f.name,
    unit: f.unit,
    better: f.better,
    value: a.median,
    baseline,
    baselineName: f.baselineName,
    ratio,
    ...a,
    baselineMin: b.min,
    baselineMax: b.max,
    reps: f.agent.length,
    target: t ? `${t.of === 'ratio' ? 'ratio' : 'value'} ${t.op === '>=' ? '≥' : '≤'} ${t.limit}${t.of === 'value' ? ` ${f.unit}` : ''}` : null,
    targetMet: t && checked !== undefined ? (t.op === '>=' ? checked >= t.limit : checked <= t.limit) : null,
    ...(f.note ? { note: f.note } : {}),
  };
}

/** Three significant digits, without exponent notation for the numbers benches produce. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function table(figures: readonly Figure[]): string {
  const head = ['figure', 'agent', 'baseline', 'ratio', 'target', 'agent min / median / max'];
  const rows = figures.map((f) => [
    `${f.name} (${f.better} is better)`,
    `${fmt(f.value)} ${f.unit}`,
    `${fmt(f.baseline)} ${f.unit} ${f.baselineName}`,
    `${f.ratio.toFixed(2)}×`,
    f.target ? `${f.target} ${f.targetMet ? 'ok' : 'MISSED'}` : '-',
    `${fmt(f.min)} / ${fmt(f.median)} / ${fmt(f.max)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  const notes = figures.filter((f) => f.note).map((f) => `  ${f.name}: ${f.note}`);
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line), ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

export function writeReport(path: string, figures: readonly Figure[], meta: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ figures, meta }, null, 2)}\n`);
}
