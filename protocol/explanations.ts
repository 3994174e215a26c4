import { z } from 'zod';

/*
 * Why a prediction came out as it did, as stored on the device and sent on
 * `<prefix>/<device>/explanations` (see ExplanationBatch in telemetry.ts). One explanation
 * per prediction, keyed by the prediction's (device, seq). `method` names the shape of `values`.
 */

/** Largest grid side of an occlusion map. */
export const MAX_GRID = 32;
/** Largest number of features a Shapley explanation carries. */
export const MAX_FEATURES = 256;

const finite = z.number().finite();

/**
 * An occlusion sensitivity map: the image split into rows × cols cells, each cell covered in
 * turn; `heat` holds, row by row, the drop of the explained class's score with that cell
 * covered, quantised to one byte per cell: value = min + byte / 255 · (max − min).
 */
export const OcclusionMap = z.strictObject({
  rows: z.number().int().min(1).max(MAX_GRID),
  cols: z.number().int().min(1).max(MAX_GRID),
  /** base64 of rows · cols bytes. */
  heat: z.string().max(4 * Math.ceil((MAX_GRID * MAX_GRID) / 3)),
  min: finite,
  max: finite,
  /** The class whose score was watched, and its score on the whole image. */
  label: z.string().max(200),
  classIndex: z.number().int().nonnegative(),
  score: finite,
  /** What covered a cell. */
  fill: z.enum(['mean', 'blur']),
  /** Model runs spent, and whether they went in batches (false: the model takes one input per run). */
  runs: z.number().int().positive(),
  batched: z.boolean(),
  /** A small PNG of the image with the map laid over it, base64; present when configured. */
  overlay: z.string().max(512 * 1024).optional(),
}).refine((m) => Buffer.from(m.heat, 'base64').length === m.rows * m.cols, { message: 'heat does not hold rows × cols bytes', path: ['heat'] })
  .refine((m) => m.min <= m.max, { message: 'min is above max', path: ['min'] });
export type OcclusionMap = z.infer<typeof OcclusionMap>;

/**
 * Shapley values of a model over one row of features: `values[i]` is feature i's share of
 * `prediction − baseValue`, where baseValue is the model's mean output over the background rows.
 */
export const ShapleyValues = z.strictObject({
  features: z.array(z.string().max(200)).min(1).max(MAX_FEATURES),
  values: z.array(finite).min(1).max(MAX_FEATURES),
  baseValue: finite,
  prediction: finite,
  /** The output explained: a class label, or `value` for a regressor. */
  output: z.string().max(200),
  /** True when every coalition was evaluated; false for sampled KernelSHAP. */
  exact: z.boolean(),
  coalitions: z.number().int().positive(),
  backgroundRows: z.number().int().positive(),
}).refine((s) => s.values.length === s.features.length, { message: 'one value per feature', path: ['values'] });
export type ShapleyValues = z.infer<typeof ShapleyValues>;

/** A detector's boxes and scores, in input image pixels: for detectors they are the explanation. */
export const DetectionBoxes = z.strictObject({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  boxes: z
    .array(z.strictObject({ x0: finite, y0: finite, x1: finite, y1: finite, label: z.string().max(200), score: finite }))
    .max(1000),
});
export type DetectionBoxes = z.infer<typeof DetectionBoxes>;

const common = {
  seq: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  model: z.string().min(1),
};

/** One explanation with its values checked against its method. */
export const CheckedExplanation = z.discriminatedUnion('method', [
  z.object({ ...common, method: z.literal('occlusion'), values: OcclusionMap }),
  z.object({ ...common, method: z.literal('shapley'), values: ShapleyValues }),
  z.object({ ...common, method: z.literal('boxes'), values: DetectionBoxes }),
]);
export type CheckedExplanation = z.infer<typeof CheckedExplanation>;
export type ExplanationMethod = CheckedExplanation['method'];
export type ExplanationValues = CheckedExplanation['values'];

/** An explanations batch whose every explanation is checked against its method. */
export const CheckedExplanationBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  explanations: z.array(CheckedExplanation).min(1).max(1000),
});
export type CheckedExplanationBatch = z.infer<typeof CheckedExplanationBatch>;

/** Decodes an occlusion map's heat into rows · cols values, row by row. */
export function occlusionHeat(map: Pick<OcclusionMap, 'heat' | 'min' | 'max'>): number[] {
  const span = map.max - map.min;
  return [...Buffer.from(map.heat, 'base64')].map((q) => map.min + (q / 255) * span);
}
