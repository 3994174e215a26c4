import type { Change, ManifestDiff } from './diff.js';
import type { RegistryListing } from './registry.js';

/** The diff for people: one block per section that changed, one line per value, then the sections that did not. */
export function diffText(d: ManifestDiff): string {
  const lines = [`${d.from.name} ${d.from.version} (counter ${d.from.counter}) → ${d.to.name} ${d.to.version} (counter ${d.to.counter})`];
  const bySection = new Map<string, Change[]>();
  for (const c of d.changes) bySection.set(c.section, [...(bySection.get(c.section) ?? []), c]);
  for (const [section, changes] of bySection) {
    lines.push('', `${section}:`);
    for (const c of changes) lines.push(`  ${c.path}: ${changeText(c)}`);
  }
  lines.push('', d.unchanged.length ? `unchanged: ${d.unchanged.join(', ')}` : 'every section changed');
  return lines.join('\n');
}

function changeText(c: Change): string {
  if (c.before === undefined) return `added ${show(c.after)}`;
  if (c.after === undefined) return `removed (was ${show(c.before)})`;
  const delta = typeof c.before === 'number' && typeof c.after === 'number' ? ` (${c.after >= c.before ? '+' : ''}${Number((c.after - c.before).toPrecision(4))})` : '';
  return `${show(c.before)} → ${show(c.after)}${delta}`;
}

function show(v: unknown): string {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** The registry as a table, refused manifests after it. */
export function listText(l: RegistryListing, verified: boolean): string {
  const rows = l.entries.map((e) => {
    const m = e.manifest;
    const metrics = m.lineage?.validation ? Object.entries(m.lineage.validation.metrics).slice(0, 3).map(([k, v]) => `${k}=${v}`).join(' ') : '-';
    return [m.name, m.version, String(m.counter), m.createdAt.slice(0, 19) + 'Z', m.expiresAt.slice(0, 10), m.lineage?.packedBy ?? m.packedBy ?? '-', m.lineage?.code?.commit.slice(0, 12) ?? '-', metrics, e.signedBy ? e.signedBy.join(',') : 'unverified', e.where];
  });
  const header = ['MODEL', 'VERSION', 'COUNTER', 'CREATED', 'EXPIRES', 'PACKED BY', 'COMMIT', 'METRICS', 'SIGNED BY', 'WHERE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const out = l.entries.length ? [line(header), ...rows.map(line)] : ['the registry holds no model'];
  if (!verified && l.entries.length) out.push('(signatures not verified: give --trust PUBFILE or --key KEYFILE)');
  for (const r of l.refused) out.push(`refused ${r.where}: ${r.reason}`);
  return out.join('\n');
}
