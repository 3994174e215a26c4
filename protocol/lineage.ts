import { z } from 'zod';

/*
 * Where a model version came from: the data it was trained on (by checksum, so "the same
 * dataset" is a fact, not a name), the code that trained it, its hyperparameters, how well
 * it did and on which data, and who packed it when. It travels inside the signed manifest,
 * so a gateway's serving model can be traced back without asking anyone.
 */

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits (sha256)');
const isoUtc = z.iso.datetime({ error: 'an ISO 8601 UTC time such as 2025-01-31T12:00:00Z' });

/** Most datasets, hyperparameters or metrics one lineage lists. */
export const LINEAGE_MAX_ENTRIES = 64;

/** A dataset named by its checksum (of the file, or of the archive or manifest that lists its files). */
export const DatasetRefSchema = z.strictObject({
  name: z.string().min(1).max(200),
  sha256,
  /** Where it is kept (object store, DVC remote ...), for people; never fetched by an agent. */
  uri: z.string().max(2048).optional(),
  bytes: z.number().int().nonnegative().optional(),
});
export type DatasetRef = z.infer<typeof DatasetRefSchema>;

/** A hyperparameter or metric name: letters, digits and . _ - / : (e.g. "lr", "val/f1"). */
const entryName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:]{0,127}$/, 'letters, digits, . _ - / : only (at most 128), starting with a letter or digit');
const limited = <T extends z.ZodType>(value: T) =>
  z.record(entryName, value).refine((r) => Object.keys(r).length <= LINEAGE_MAX_ENTRIES, `at most ${LINEAGE_MAX_ENTRIES} entries`);

/** The lineage of one model version; every part but who packed it and when is optional. */
export const LineageSchema = z.strictObject({
  training: z
    .strictObject({ datasets: z.array(DatasetRefSchema).min(1).max(LINEAGE_MAX_ENTRIES) })
    .optional(),
  code: z
    .strictObject({
      /** A git commit id, abbreviated (7+) or full (40 or 64 hex digits). */
      commit: z.string().regex(/^[0-9a-f]{7,64}$/, 'a git commit id: 7 to 64 lowercase hex digits'),
      repository: z.string().max(2048).optional(),
    })
    .optional(),
  hyperparameters: limited(z.union([z.number(), z.string().max(1000), z.boolean()])).optional(),
  validation: z
    .strictObject({
      /** The data the metrics were measured on. */
      dataset: DatasetRefSchema,
      /** Metric values by name ("accuracy", "recall/scratch"); what live accuracy is compared with. */
      metrics: limited(z.number().finite()).refine((m) => Object.keys(m).length > 0, 'at least one metric'),
    })
    .optional(),
  packedBy: z.string().min(1).max(200),
  packedAt: isoUtc,
});
export type Lineage = z.infer<typeof LineageSchema>;
