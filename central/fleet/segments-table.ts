import type { SegmentRow } from './segments-db.js';

/**
 * Segments side by side, per model and segment key, so sites and lines are compared at a
 * glance: each row's class mix, confidence, fallback share and accuracy.
 */
export function segmentsTable(rows: readonly SegmentRow[]): string {
  if (rows.length === 0) return 'no segment statistics in that period';
  const head = ['MODEL', 'KEY', 'SITE', 'SEGMENT', 'DEVICES', 'PREDICTIONS', 'CLASSES', 'CONFIDENCE', 'FALLBACK', 'LABELLED', 'ACCURACY'];
  const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
  const body = [...rows]
    .sort((a, b) => a.model.localeCompare(b.model) || a.key.localeCompare(b.key) || a.site.localeCompare(b.site) || a.value.localeCompare(b.value))
    .map((r) => [
      r.model,
      r.key,
      r.site,
      r.value,
      String(r.devices),
      String(r.predictions),
      Object.entries(r.classes)
        .sort((a, b) => b[1] - a[1])
        .map(([label, share]) => `${label} ${pct(share)}`)
        .join(', '),
      pct(r.meanConfidence),
      pct(r.fallbackShare),
      String(r.labelled),
      pct(r.accuracy),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [head, ...body].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
