import { z } from 'zod';
import { ModelRefSchema } from './desired-state.js';
import { DEVICE_ID_PATTERN } from './topics.js';

/*
 * What a device tells central about its models, retained on `<prefix>/<device>/rollout`,
 * so the controller and the fleet view see every device's latest step even if they
 * subscribe after it happened. One report replaces the previous one: it is a state, not
 * a log (the log is the agent's events table).
 */

/** Largest rollout report central accepts, checked before parsing. */
export const ROLLOUT_REPORT_MAX_BYTES = 16 * 1024;

/** The steps of a model switch, in order, and where it ends. */
export const ROLLOUT_STATES = [
  'idle',
  'downloading',
  'verifying',
  'loading',
  'smoke-test',
  'shadow',
  'switching',
  'probation',
  'committed',
  'rolled-back',
  'failed',
] as const;
export const RolloutStateSchema = z.enum(ROLLOUT_STATES);
export type RolloutState = z.infer<typeof RolloutStateSchema>;

/** A device's latest rollout report. Times are epoch ms as on the status topic. */
export const RolloutReport = z
  .strictObject({
  v: z.literal(1),
  device: z.string().regex(DEVICE_ID_PATTERN),
  /** The device's group (its config's rollout.group), so central can aim a rollout at it. */
  group: z.string().regex(DEVICE_ID_PATTERN).optional(),
  ts: z.number().int().nonnegative(),
  /** The models serving frames now. */
  serving: z.array(ModelRefSchema).max(64),
  state: RolloutStateSchema,
  /** The model being brought in, while there is one. */
  candidate: ModelRefSchema.optional(),
  lastTransition: z.strictObject({
    from: RolloutStateSchema,
    to: RolloutStateSchema,
    at: z.number().int().nonnegative(),
  }),
  /** Why the last transition happened, for failed and rolled-back in particular. */
  reason: z.string().max(2000).optional(),
  /** The desired-state counter being worked towards. */
  desiredCounter: z.number().int().positive().optional(),
  rolloutId: z.string().regex(DEVICE_ID_PATTERN).optional(),
  progress: z
    .strictObject({ bytes: z.number().int().nonnegative(), total: z.number().int().positive() })
    .refine((p) => p.bytes <= p.total, { message: 'bytes exceeds total', path: ['bytes'] })
    .optional(),
  })
  .refine((r) => r.lastTransition.to === r.state, { message: 'the last transition must lead to the current state', path: ['lastTransition', 'to'] });
export type RolloutReport = z.infer<typeof RolloutReport>;
