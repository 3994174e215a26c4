import { z } from 'zod';

/*
 * What "normal" looks like for a model, measured centrally on reference data when the
 * bundle is packed (`edgectl pack --reference`) and shipped signed in the manifest. The
 * agent compares live windows against it. The same code (agent/drift/) computes the
 * statistics at pack time and live, so the two can only differ by the data.
 */

/** Most bins per histogram; 10 quantile bins are the usual choice for PSI. */
export const MAX_BINS = 64;

/**
 * A distribution as quantile bins of the reference data: `edges` has bins+1 entries, the
 * first and last being the reference minimum and maximum; `counts` are reference values
 * per bin. Live values below the first or above the last edge count as out of range.
 */
export const HistogramSchema = z
  .strictObject({
    edges: z.array(z.number()).min(2).max(MAX_BINS + 1),
    counts: z.array(z.number().int().nonnegative()).min(1).max(MAX_BINS),
    mean: z.number(),
    std: z.number().nonnegative(),
  })
  .refine((h) => h.counts.length === h.edges.length - 1, { message: 'counts must have one entry fewer than edges', path: ['counts'] })
  .refine((h) => h.edges.every((e, i) => i === 0 || e >= h.edges[i - 1]!), { message: 'edges must not decrease', path: ['edges'] });
export type Histogram = z.infer<typeof HistogramSchema>;

/** The per-image statistics of agent/drift/image-stats.ts, by name. */
export const IMAGE_STATS = ['brightness', 'contrast', 'sharpness', 'meanR', 'meanG', 'meanB', 'saturated'] as const;
export type ImageStatName = (typeof IMAGE_STATS)[number];

export const ReferenceProfileSchema = z.strictObject({
  v: z.literal(1),
  /** Reference inputs the profile was measured on. */
  samples: z.number().int().positive(),
  /** Per-image statistics, for image models. */
  image: z.partialRecord(z.enum(IMAGE_STATS), HistogramSchema).optional(),
  /** Per input feature, for tabular models, by feature name. */
  features: z.record(z.string().max(128), HistogramSchema).optional(),
  /** What the model answered on the reference data: class frequencies, or a score histogram. */
  outputs: z.union([
    z.strictObject({ kind: z.literal('classes'), labels: z.array(z.string().max(256)).min(1).max(100_000), counts: z.array(z.number().int().nonnegative()) }),
    z.strictObject({ kind: z.literal('scores'), histogram: HistogramSchema }),
  ]),
  /** Top-1 probability and entropy of the answers. */
  confidence: z.strictObject({ top1: HistogramSchema, entropy: HistogramSchema }),
  /** Up to 100 reference feature rows, the background for Shapley values. */
  background: z.array(z.array(z.number())).max(100).optional(),
});
export type ReferenceProfile = z.infer<typeof ReferenceProfileSchema>;
