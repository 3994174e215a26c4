import { z } from 'zod';
import { MODEL_NAME_PATTERN, ModelVersionSchema } from './manifest.js';
import { DEVICE_ID_PATTERN } from './topics.js';

/*
 * What central wants a device, a group or a site to run. Central publishes it signed and
 * retained on desiredStateTopic; the agent reconciles towards it at its own pace and
 * reports on its rollout topic. The models listed are references (name, version, manifest
 * counter): the manifests themselves travel separately and are verified on their own.
 */

/** Largest signed desired state (envelope JSON as received) an agent accepts, checked before parsing. */
export const DESIRED_STATE_MAX_BYTES = 64 * 1024;

export const TARGET_KINDS = ['device', 'group', 'site'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const topicLevel = z.string().regex(DEVICE_ID_PATTERN, 'letters, digits, . _ - only (at most 64), starting with a letter or digit');
const isoUtc = z.iso.datetime({ error: 'an ISO 8601 UTC time such as 2025-01-31T12:00:00Z' });

/** One model a target should run, naming the exact manifest by its counter. */
export const ModelRefSchema = z.strictObject({
  name: z.string().regex(MODEL_NAME_PATTERN, 'letters, digits, . _ - only (at most 64), starting with a letter or digit'),
  version: ModelVersionSchema,
  counter: z.number().int().positive(),
});
export type ModelRef = z.infer<typeof ModelRefSchema>;

/**
 * The desired state of one target. `counter` goes up with every desired state published
 * for the same target; an agent never accepts a lower one (a replay). `models` empty means
 * "keep what you run". A rollback names a model version whose manifest counter is LOWER
 * than one the agent already accepted: the agent takes that older manifest only because
 * this signed, newer desired state says so in `rollback`, and `models` must list the
 * version rolled back to.
 */
export const DesiredState = z
  .strictObject({
    v: z.literal(1),
    /** Ids are single topic levels, so a site name with '/' or spaces cannot be targeted. */
    target: z.strictObject({ kind: z.enum(TARGET_KINDS), id: topicLevel }),
    counter: z.number().int().positive(),
    issuedAt: isoUtc,
    expiresAt: isoUtc.optional(),
    models: z.array(ModelRefSchema).max(64),
    rollback: z
      .strictObject({
        name: z.string().regex(MODEL_NAME_PATTERN, 'a model name'),
        to: ModelVersionSchema,
        reason: z.string().min(1).max(1000),
      })
      .optional(),
    /** Carried through to the agent's reports so the controller can tell its waves apart. */
    rollout: z.strictObject({ id: topicLevel, wave: z.number().int().nonnegative() }).optional(),
  })
  .superRefine((d, ctx) => {
    if (d.expiresAt !== undefined && Date.parse(d.expiresAt) <= Date.parse(d.issuedAt)) {
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'expiresAt must be after issuedAt' });
    }
    const names = new Set<string>();
    d.models.forEach((m, i) => {
      if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['models', i, 'name'], message: `model "${m.name}" is listed twice` });
      names.add(m.name);
    });
    const rb = d.rollback;
    if (rb && !d.models.some((m) => m.name === rb.name && m.version === rb.to)) {
      ctx.addIssue({ code: 'custom', path: ['rollback', 'to'], message: `models must list ${rb.name} ${rb.to}, the version rolled back to` });
    }
  });
export type DesiredState = z.infer<typeof DesiredState>;

/** Where a device sits in the fleet: its own id, optionally a group, and its site. */
export interface DevicePlacement {
  id: string;
  group?: string;
  site: string;
}

const SPECIFICITY: Record<TargetKind, number> = { site: 1, group: 2, device: 3 };

/**
 * The desired state that applies to device among verified candidates: the most specific
 * target wins — one naming the device over one naming its group over one naming its site —
 * whatever the counters; among candidates for the same target the highest counter wins.
 * Candidates for other devices, groups or sites are ignored; with nowMs, so are expired
 * ones, so that an expired device-specific pin falls back to the group's or site's state.
 */
export function resolveDesired(candidates: readonly DesiredState[], device: DevicePlacement, nowMs?: number): DesiredState | undefined {
  let best: DesiredState | undefined;
  for (const d of candidates) {
    if (!appliesTo(d, device)) continue;
    if (nowMs !== undefined && d.expiresAt !== undefined && Date.parse(d.expiresAt) < nowMs) continue;
    if (!best) {
      best = d;
      continue;
    }
    const bySpecificity = SPECIFICITY[d.target.kind] - SPECIFICITY[best.target.kind];
    if (bySpecificity > 0 || (bySpecificity === 0 && d.counter > best.counter)) best = d;
  }
  return best;
}

/** Whether d's target is this device, its group or its site. */
export function appliesTo(d: Pick<DesiredState, 'target'>, device: DevicePlacement): boolean {
  const { kind, id } = d.target;
  if (kind === 'device') return id === device.id;
  if (kind === 'group') return device.group !== undefined && id === device.group;
  return id === device.site;
}
