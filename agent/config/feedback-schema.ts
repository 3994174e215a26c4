import { z } from 'zod';

/**
 * Live accuracy of one model from the labels operators and central give its predictions,
 * judged against the validation accuracy in the model's manifest (`lineage.metrics`) or
 * `expectedAccuracy` when the manifest has none.
 */
export const FeedbackSchema = z
  .strictObject({
    /** Accuracy is measured over the latest this many labels... */
    window: z.number().int().min(10).max(100_000).default(200),
    /** ...once at least this many are in, and judged again every `every` new labels. */
    minLabels: z.number().int().min(5).default(30),
    every: z.number().int().min(1).default(10),
    /** The accuracy expected when the manifest states none (a model from the config, say). */
    expectedAccuracy: z.number().min(0).max(1).optional(),
    /** How far below the expected accuracy live accuracy may fall before a warning and an alarm. */
    limits: z.strictObject({ warn: z.number().min(0).max(1).default(0.05), alarm: z.number().min(0).max(1).default(0.1) }).prefault({}),
    /** Judgements in a row below warn before an alarm clears. */
    recoverWindows: z.number().int().min(1).default(2),
    /** Camera inputs held in memory so a wrongly predicted one can be captured when its label comes. */
    keepInputs: z.number().int().min(0).max(1000).default(32),
  })
  .prefault({});
export type FeedbackConfig = z.infer<typeof FeedbackSchema>;

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - only (at most 64), starting with a letter or digit');

/** Where a segment key's value comes from: the camera or OPC-UA server a prediction came from, or an OPC-UA tag's current value. */
export const SegmentKeySchema = z
  .strictObject({
    name: id,
    from: z.enum(['source', 'tag']).default('source'),
    /** The tag (by its `opcua.servers[].tags[].name`) for `from: tag`, e.g. a product code or line number. */
    tag: z.string().min(1).optional(),
  })
  .refine((k) => (k.from === 'tag') === (k.tag !== undefined), { message: 'give tag exactly when from is tag', path: ['tag'] });
export type SegmentKey = z.infer<typeof SegmentKeySchema>;

/**
 * Statistics per segment (camera, line, product code, ...) per audit period, stored and sent
 * to central, and a `segment_disparity` event when one segment differs from the typical one
 * (by the median over its model's segments) by more than a limit.
 */
export const SegmentsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    keys: z.array(SegmentKeySchema).min(1).default([{ name: 'camera', from: 'source' }]),
    /** An audit period closes after this long... */
    periodS: z.number().positive().default(300),
    /** ...and segments with fewer predictions in it are not compared. */
    minPredictions: z.number().int().min(1).default(50),
    /** Differences between a segment and the typical (median) segment beyond which the disparity event is raised. */
    disparity: z
      .strictObject({
        /** Total variation distance between the class mixes (0 same, 1 disjoint). */
        classMix: z.number().min(0).max(1).default(0.25),
        /** Difference in mean confidence. */
        confidence: z.number().min(0).max(1).default(0.15),
        /** Difference in fallback share. */
        fallbackShare: z.number().min(0).max(1).default(0.2),
        /** Difference in accuracy, where both sides have `minLabels` labels. */
        accuracy: z.number().min(0).max(1).default(0.15),
        minLabels: z.number().int().min(1).default(20),
      })
      .prefault({}),
  })
  .prefault({});
export type SegmentsConfig = z.infer<typeof SegmentsSchema>;
