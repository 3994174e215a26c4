import { z } from 'zod';
import { IMAGE_STATS } from '../../protocol/reference-profile.js';
import { WriteBackSchema } from './sensor-schema.js';

/** One rule step: a threshold on an image statistic (image models) or on a feature (sensor models). */
export const FallbackRuleSchema = z
  .strictObject({
    /** The label the rule gives when its condition holds. */
    label: z.string().min(1),
    /** An image statistic (`brightness`, `contrast`, `sharpness`, `meanR`, ..., `saturated`). */
    stat: z.enum(IMAGE_STATS).optional(),
    /** A feature of a sensor model, as `tag.fn` (e.g. `temperature.mean`). */
    feature: z.string().min(1).optional(),
    below: z.number().optional(),
    above: z.number().optional(),
  })
  .refine((r) => (r.stat === undefined) !== (r.feature === undefined), { message: 'give stat (image models) or feature (sensor models), one of them' })
  .refine((r) => r.below !== undefined || r.above !== undefined, { message: 'give below, above or both' });
export type FallbackRule = z.infer<typeof FallbackRuleSchema>;

/**
 * What a model falls back to when it errors, times out, answers NaN/Inf or is not confident
 * enough: a fallback model, then the rules in order, then "needs manual inspection".
 */
export const FailsafeSchema = z.strictObject({
  /** The serving model's answer is abandoned after this long (its run finishes in the background). */
  timeoutMs: z.number().int().positive().optional(),
  /** An answer whose top score is below this goes to the next step (0: any answer is used). */
  minConfidence: z.number().min(0).max(1).default(0),
  /** A previous or simpler model of the same input and labels; relative to the config file. */
  fallback: z
    .strictObject({
      path: z.string().min(1),
      version: z.string().min(1).default('fallback'),
      /** Labels when they differ from the serving model's. */
      labels: z.array(z.string()).optional(),
      /** The fallback's own deadline; none when absent (it is the last model to ask). */
      timeoutMs: z.number().int().positive().optional(),
    })
    .optional(),
  /** Tried in order after the fallback model; the first whose condition holds answers. */
  rules: z.array(FallbackRuleSchema).default([]),
  manual: z
    .strictObject({
      /** The label of a prediction no step could make. */
      label: z.string().min(1).default('needs_inspection'),
      /** A PLC node set to 1 while predictions need manual inspection and back to 0 when they do not. */
      writeBack: WriteBackSchema.omit({ value: true }).optional(),
    })
    .prefault({}),
  /** Share of fallbacks over `windowS` above which the agent reports itself degraded. */
  degradedShare: z.number().min(0).max(1).default(0.2),
  windowS: z.number().int().min(10).max(86_400).default(300),
});
export type FailsafeConfig = z.infer<typeof FailsafeSchema>;
