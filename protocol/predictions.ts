import { z } from 'zod';

/** Largest predictions batch payload central accepts, checked before parsing. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** One of the k best classes of a classifier output. */
export const ScoredLabel = z.object({
  label: z.string(),
  score: z.number(),
});
export type ScoredLabel = z.infer<typeof ScoredLabel>;

/** One prediction as it leaves the device; `seq` increases by one per committed prediction. */
export const PredictionRecord = z.object({
  seq: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  source: z.string().min(1),
  frameId: z.string(),
  model: z.string().min(1),
  modelVersion: z.string(),
  label: z.string(),
  score: z.number(),
  topK: z.array(ScoredLabel),
  latencyMs: z.number().nonnegative(),
  /** A regressor's output. */
  value: z.number().optional(),
  /** An anomaly detector's score (lower is more anomalous) and its verdict. */
  anomalyScore: z.number().optional(),
  anomaly: z.boolean().optional(),
  /** What was not quite right about the input: `stale:TAG`, `imputed:TAG.fn`, `range:TAG`, ... */
  flags: z.array(z.string()).optional(),
  /** The part the input belongs to, read from the PLC. */
  partId: z.string().optional(),
  /** A sensor model's input row, `tag.fn` → value. */
  features: z.record(z.string(), z.number()).optional(),
  /** Which step of the model's fail-safe chain answered; absent means the serving model. */
  step: z.enum(['model', 'fallback', 'rule', 'manual']).optional(),
  /** Why the serving model's answer was not used: `timeout`, `error`, `nan`, `low-confidence`. */
  fallbackReason: z.string().optional(),
});
export type PredictionRecord = z.infer<typeof PredictionRecord>;
/** The steps of a fail-safe chain, in order. */
export type PredictionStep = NonNullable<PredictionRecord['step']>;

/**
 * A batch of consecutive predictions from one device. `batchId` is derived from
 * device and sequence range, so a redelivered batch has the same id and central drops it.
 */
export const PredictionBatch = z
  .object({
    v: z.literal(1),
    batchId: z.string(),
    device: z.string().min(1),
    first: z.number().int().positive(),
    last: z.number().int().positive(),
    sentAt: z.number().int().nonnegative(),
    predictions: z.array(PredictionRecord).min(1),
  })
  .refine((b) => b.batchId === batchIdOf(b.device, b.first, b.last), {
    message: 'batchId does not match device and sequence range',
    path: ['batchId'],
  })
  .refine((b) => b.predictions[0]?.seq === b.first && b.predictions.at(-1)?.seq === b.last, {
    message: 'first/last do not match the sequence numbers of the predictions',
    path: ['first'],
  });
export type PredictionBatch = z.infer<typeof PredictionBatch>;

/** The id of the batch carrying sequence numbers first..last of a device. */
export function batchIdOf(device: string, first: number, last: number): string {
  return `${device}:${first}-${last}`;
}
