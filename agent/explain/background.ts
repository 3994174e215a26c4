import { z } from 'zod';

const Rows = z.array(z.array(z.number().finite()).min(1)).min(1);

/** Where a model's Shapley background came from. */
export type BackgroundSource = 'reference-profile' | 'config';

/**
 * The background rows for Shapley values: the model's reference profile's `background` (from
 * its signed manifest) when it has one, else the config's `explain.background`; every row
 * must have one value per feature. Undefined when neither holds rows.
 */
export function backgroundRows(profile: unknown, configured: readonly (readonly number[])[] | undefined, width: number): { rows: number[][]; source: BackgroundSource } | undefined {
  const fromProfile = Rows.safeParse((profile as { background?: unknown } | null | undefined)?.background);
  const picked = fromProfile.success ? { rows: fromProfile.data, source: 'reference-profile' as const } : configured ? { rows: configured.map((r) => [...r]), source: 'config' as const } : undefined;
  if (!picked) return undefined;
  const bad = picked.rows.findIndex((r) => r.length !== width);
  if (bad >= 0) throw new Error(`background row ${bad} (${picked.source}) has ${picked.rows[bad]!.length} values; the model takes ${width}`);
  return picked;
}
