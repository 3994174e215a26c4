import { z } from 'zod';
import { IMAGE_STATS, type ImageStatName } from '../../protocol/reference-profile.js';
import { WriteBackSchema } from './sensor-schema.js';

const bounds = {
  below: z.number().optional(),
  above: z.number().optional(),
};
const hasBound = (r: { below?: number | undefined; above?: number | undefined }) => r.below !== undefined || r.above !== undefined;

/** A rule step of an image model: a threshold on an image statistic (`brightness`, `contrast`, `sharpness`, `meanR`, ..., `saturated`). */
export const ImageRuleSchema = z
  .strictObject({ label: z.string().min(1), stat: z.enum(IMAGE_STATS), ...bounds })
  .refine(hasBound, { message: 'give below, above or both' });

/** A rule step of a sensor model: a threshold on one of its features, as `tag.fn` (e.g. `Temperature.mean`). */
export const SensorRuleSchema = z
  .strictObject({ label: z.string().min(1), feature: z.string().min(1), ...bounds })
  .refine(hasBound, { message: 'give below, above or both' });

/** One rule step as the chain reads it: the label it gives when its value is below and/or above the bounds. */
export interface FallbackRule {
  label: string;
  stat?: ImageStatName;
  feature?: string;
  below?: number | undefined;
  above?: number | undefined;
}

/**
 * What a model falls back to when it errors, times out, answers NaN/Inf or is not confident
 * enough: a fallback model, then the rules in order, then "needs manual inspection".
 */
function failsafeSchema<R extends z.ZodType>(rule: R) {
  return z.strictObject({
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
    rules: z.array(rule).default([]),
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
}

/** The fail-safe chain of an image model; rules on image statistics. */
export const FailsafeSchema = failsafeSchema(ImageRuleSchema);
/** The fail-safe chain of a sensor model; rules on its features. */
export const SensorFailsafeSchema = failsafeSchema(SensorRuleSchema);
export type FailsafeConfig = Omit<z.infer<typeof FailsafeSchema>, 'rules'> & { rules: FallbackRule[] };
