import { z } from 'zod';

/*
 * Ground truth and segment audits: central (or an operator's tool) sends a label for one
 * prediction of a device; the device sends back every label it stored, with what the
 * model had said, and periodic statistics per segment (camera, line, product code).
 */

/** Largest label command a device accepts, checked before parsing. */
export const MAX_LABEL_COMMAND_BYTES = 4 * 1024;

/** The topic a device hears label commands on. */
export function labelCommandTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/cmd/label`;
}

/** A label for prediction `seq` of the device the topic names; `by` says who gave it. */
export const LabelCommand = z.strictObject({
  v: z.literal(1),
  seq: z.number().int().positive(),
  label: z.string().min(1).max(200),
  by: z.string().min(1).max(200).default('central'),
  /** When the label was given (wall ms); the device's clock when absent. */
  ts: z.number().int().nonnegative().optional(),
});
export type LabelCommand = z.infer<typeof LabelCommand>;

/** One stored label; `seq` is the prediction's and the de-duplication key (a newer label replaces an older one). */
export const LabelRecord = z.object({
  seq: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  model: z.string().min(1),
  modelVersion: z.string(),
  source: z.string(),
  predicted: z.string(),
  label: z.string().min(1),
  correct: z.boolean(),
  by: z.string(),
  /** The captured input (samples store id) when the prediction was wrong and its input was still held. */
  sampleId: z.number().int().positive().optional(),
});
export type LabelRecord = z.infer<typeof LabelRecord>;

export const LabelBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  labels: z.array(LabelRecord).min(1).max(1000),
});
export type LabelBatch = z.infer<typeof LabelBatch>;

/** One segment's figures over one audit period. */
export const SegmentStats = z.object({
  /** Per device, increasing: the de-duplication key. */
  id: z.number().int().positive(),
  model: z.string().min(1),
  /** The segment key (`camera`, `line`, `product`, ...) and this segment's value of it. */
  key: z.string().min(1),
  value: z.string(),
  startedAt: z.number().int().nonnegative(),
  endedAt: z.number().int().nonnegative(),
  predictions: z.number().int().nonnegative(),
  /** Predictions per label. */
  classes: z.record(z.string(), z.number().int().nonnegative()),
  meanConfidence: z.number().nullable(),
  /** Share of predictions not made by the serving model (fallback model, rule, manual inspection). */
  fallbackShare: z.number().min(0).max(1),
  labelled: z.number().int().nonnegative(),
  accuracy: z.number().min(0).max(1).nullable(),
});
export type SegmentStats = z.infer<typeof SegmentStats>;

export const SegmentStatsBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  segments: z.array(SegmentStats).min(1).max(1000),
});
export type SegmentStatsBatch = z.infer<typeof SegmentStatsBatch>;
