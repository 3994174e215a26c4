import { z } from 'zod';

/*
 * How an image becomes a model's input tensor. It lives in protocol/ because the agent's
 * config and a signed model manifest must describe preprocessing with the same schema:
 * a manifest that could say something the agent's config cannot would be a second truth.
 */

/** Image preprocessing of one model: fit, layout, channel order, normalisation and dtype. */
export const PreprocessSchema = z.strictObject({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** How the frame is fitted to width × height (sharp's resize fit). */
  fit: z.enum(['fill', 'cover', 'contain']).default('fill'),
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  channels: z.enum(['RGB', 'BGR', 'GRAY']).default('RGB'),
  /** Pixel values (0–255) are multiplied by scale, then (v - mean[c]) / std[c]. */
  scale: z.number().positive().default(1 / 255),
  mean: z.array(z.number()).min(1).max(3).default([0]),
  std: z.array(z.number().positive()).min(1).max(3).default([1]),
  dtype: z.enum(['float32', 'float16', 'uint8']).default('float32'),
});
export type PreprocessSpec = z.infer<typeof PreprocessSchema>;
