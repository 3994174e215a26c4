import { z } from 'zod';

/*
 * What a device sends besides predictions batches, each on its own topic under
 * `<prefix>/<device>/`: its audit events, periodic health, explanations of predictions and
 * captured samples. Central stores each in its own table, once per key.
 */

/** Largest events batch, health report or explanations batch central accepts. */
export const MAX_TELEMETRY_BYTES = 1024 * 1024;
/** Largest captured sample message (base64 data included). */
export const MAX_SAMPLE_BYTES = 8 * 1024 * 1024;

/** The topic of one telemetry kind of a device. */
export function telemetryTopic(prefix: string, device: string, kind: TelemetryKind): string {
  return `${prefix}/${device}/${kind}`;
}

/** Topic levels after the device id that central ingests. */
export const TELEMETRY_KINDS = ['events', 'health', 'explanations', 'samples', 'drift'] as const;
export type TelemetryKind = (typeof TELEMETRY_KINDS)[number];

/** One audit event; `id` increases per device and is the de-duplication key. */
export const DeviceEvent = z.object({
  id: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  level: z.enum(['info', 'warn', 'error']),
  kind: z.string().min(1).max(100),
  source: z.string().max(200).optional(),
  message: z.string().max(4000),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type DeviceEvent = z.infer<typeof DeviceEvent>;

/** Audit events of one device, oldest first. */
export const EventBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  events: z.array(DeviceEvent).min(1).max(1000),
});
export type EventBatch = z.infer<typeof EventBatch>;

/** The device's health verdict and store figures, sent periodically. */
export const HealthReport = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  ts: z.number().int().nonnegative(),
  state: z.enum(['starting', 'healthy', 'degraded', 'alarm', 'fault']),
  reason: z.string().max(2000),
  outboxPending: z.number().int().nonnegative(),
  oldestPendingAgeS: z.number().nonnegative().nullable(),
  storeBytes: z.number().int().nonnegative().nullable(),
  storeQuotaBytes: z.number().int().nonnegative().nullable(),
  evictions: z.record(z.string(), z.number().int().nonnegative()),
});
export type HealthReport = z.infer<typeof HealthReport>;

/** Why a prediction came out as it did: feature attributions or an occlusion map. */
export const Explanation = z.object({
  seq: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  model: z.string().min(1),
  method: z.string().min(1),
  values: z.unknown(),
});
export type Explanation = z.infer<typeof Explanation>;

export const ExplanationBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  explanations: z.array(Explanation).min(1).max(1000),
});
export type ExplanationBatch = z.infer<typeof ExplanationBatch>;

/** One captured input; `id` increases per device and is the de-duplication key. */
export const SampleMessage = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  id: z.number().int().positive(),
  ts: z.number().int().nonnegative(),
  source: z.string().min(1),
  frameId: z.string(),
  seq: z.number().int().positive().optional(),
  mediaType: z.string().min(1).max(100),
  /** Why it was captured: low-confidence, drift-alarm, shadow-disagreement, operator, ... */
  reason: z.string().min(1).max(100).optional(),
  /** base64 */
  data: z.string(),
});
export type SampleMessage = z.infer<typeof SampleMessage>;

/** One statistic of a drift window, as judged against its warn and alarm levels. */
export const DriftStatistic = z.object({
  subject: z.string().min(1).max(200),
  statistic: z.string().min(1).max(100),
  value: z.number(),
  level: z.enum(['ok', 'warn', 'alarm']),
});

/** One closed drift window of a model; `id` increases per device and is the de-duplication key. */
export const DriftWindowReport = z.object({
  id: z.number().int().positive(),
  model: z.string().min(1).max(200),
  modelVersion: z.string().min(1).max(100),
  startedAt: z.number().int().nonnegative(),
  endedAt: z.number().int().nonnegative(),
  samples: z.number().int().nonnegative(),
  level: z.enum(['ok', 'warn', 'alarm']),
  stats: z.array(DriftStatistic).max(2000),
});
export type DriftWindowReport = z.infer<typeof DriftWindowReport>;

/** Drift windows of one device, oldest first, sent with the health report. */
export const DriftWindowBatch = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  windows: z.array(DriftWindowReport).min(1).max(200),
});
export type DriftWindowBatch = z.infer<typeof DriftWindowBatch>;
