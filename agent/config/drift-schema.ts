import { z } from 'zod';

const limits = (warn: number, alarm: number) => z.strictObject({ warn: z.number().nonnegative(), alarm: z.number().nonnegative() }).prefault({ warn, alarm });

/**
 * Drift detection for one model, against its reference profile: the manifest's (a bundle
 * packed with `edgectl pack --reference`) or `referenceFile` for the config's own model.
 * Without a profile the model is not watched, and the status page says so.
 */
export const DriftSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** A reference profile JSON (as `edgectl profile` writes it), relative to the config file. */
    referenceFile: z.string().min(1).optional(),
    /** A window closes after this many predictions, or after `seconds` when set, whichever comes first. */
    window: z.strictObject({ count: z.number().int().min(10).max(1_000_000).default(500), seconds: z.number().positive().optional() }).prefault({}),
    /** No judgement on a window with fewer predictions. */
    minSamples: z.number().int().min(1).default(200),
    /** Windows in a row below warn before an alarm clears. */
    recoverWindows: z.number().int().min(1).default(2),
    /** Windows in a row in alarm before a `retrain_requested` event. */
    retrainAfterWindows: z.number().int().min(1).default(6),
    limits: z
      .strictObject({
        psi: limits(0.1, 0.25),
        ks: limits(0.15, 0.3),
        js: limits(0.15, 0.3),
        outOfRange: limits(0.05, 0.2),
        /** p-value of the class frequencies' chi-square: lower is worse. */
        chiSquareP: limits(0.001, 0.0001),
        /** EWMA and CUSUM charts, in units of their control limit. */
        chart: limits(0.8, 1),
      })
      .prefault({}),
    capture: z
      .strictObject({
        /** Keep the input of predictions whose top score is below this (0: never). */
        belowConfidence: z.number().min(0).max(1).default(0.5),
        /** Keep inputs while a drift alarm is active. */
        duringAlarm: z.boolean().default(true),
        /** At most this many captured inputs per window, whatever the reason. */
        perWindow: z.number().int().nonnegative().default(20),
      })
      .prefault({}),
  })
  .prefault({});
export type DriftConfig = z.infer<typeof DriftSchema>;
