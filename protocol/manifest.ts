import { z } from 'zod';
import { LineageSchema } from './lineage.js';
import { PreprocessSchema } from './preprocess.js';
import { ReferenceProfileSchema } from './reference-profile.js';
import { compareSemver, isSemver } from './semver.js';

export { compareSemver } from './semver.js';

/*
 * A ModelManifest says everything a gateway needs to decide, before downloading a byte,
 * whether a model is meant for it and how to run it, and everything it needs afterwards to
 * prove the bytes are the ones that were packed and behave as they did when packed
 * (goldens). It travels inside a signed envelope (signing.ts); every object is strict, so
 * a field this agent does not understand is a refusal, not a silent default.
 */

/** Largest signed manifest (envelope JSON as received) an agent accepts, checked before parsing. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/** Largest golden image, decoded; goldens are for checking a runtime, not for archiving photos. */
export const GOLDEN_IMAGE_MAX_BYTES = 128 * 1024;

/** Most goldens one manifest carries. */
export const MAX_GOLDENS = 16;

/** Clock difference tolerated between central and a gateway when checking createdAt/expiresAt. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;

/** A model name, the same rule as the agent config's model names: one MQTT topic level and a file name. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** onnxruntime's element types. */
export const TENSOR_DTYPES = ['float32', 'float16', 'float64', 'int4', 'uint4', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool', 'string'] as const;

/** Gateway CPU architectures, as Node's process.arch names them. */
export const ARCHES = ['x64', 'arm64'] as const;

/** What a model does; decides how a gateway decodes and judges its outputs. */
export const MODEL_TASKS = ['classification', 'detection', 'regression', 'anomaly'] as const;

const modelName = z.string().regex(MODEL_NAME_PATTERN, 'letters, digits, . _ - only (at most 64), starting with a letter or digit');
const semver = z.string().max(256).refine(isSemver, 'a semantic version such as 1.4.0');
/** A model version names a topic level (manifestTopic), where '+' would be an MQTT wildcard: no +build metadata. */
export const ModelVersionSchema = semver.refine((v) => !v.includes('+'), 'a semantic version without +build metadata (it would be an MQTT wildcard in the manifest topic)');
const isoUtc = z.iso.datetime({ error: 'an ISO 8601 UTC time such as 2025-01-31T12:00:00Z' });
const counter = z.number().int().positive();

/** One named input or output of the ONNX graph; shape entries are sizes or symbolic names ('batch', ''). */
export const TensorSpecSchema = z.strictObject({
  name: z.string().min(1).max(256),
  dtype: z.enum(TENSOR_DTYPES),
  shape: z.array(z.union([z.number().int().min(-1), z.string().max(64)])).max(16),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

/** How the scores are decoded; the same meaning as a models[] entry's `output` in the agent config. */
export const ManifestOutputSchema = z.strictObject({
  /** Output tensor name; pack always fills it in, so agent and packer cannot pick different outputs. */
  tensor: z.string().min(1).optional(),
  softmax: z.enum(['auto', 'always', 'never']).default('auto'),
  topK: z.number().int().min(1).max(100).default(3),
});

/** A relative path inside a bundle: names of letters, digits, . _ - joined by '/', never '.', '..' or absolute. */
const artifactPath = z
  .string()
  .min(1)
  .max(255)
  .refine((p) => !p.startsWith('/') && !p.startsWith('\\') && !/^[A-Za-z]:/.test(p), 'a relative path, not an absolute one')
  .refine((p) => !p.split(/[\\/]/).includes('..'), "a path without '..'")
  .refine((p) => !p.split(/[\\/]/).includes('.'), "a path without '.' segments")
  .regex(/^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/, "letters, digits, . _ - and '/' between names");

/** One file of a model bundle, with what the agent checks before using it. */
export const ArtifactSchema = z.strictObject({
  role: z.enum(['model', 'labels', 'other']),
  path: artifactPath,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  bytes: z.number().int().positive(),
  /** Where to download it; empty when delivered over MQTT (artifactChunkTopic). */
  urls: z.array(z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2048)).max(8),
});
export type Artifact = z.infer<typeof ArtifactSchema>;

/** A golden's input: an encoded image (goes through the manifest's preprocess) or a ready tensor. */
export const GoldenInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('image'),
    data: z.base64().max(Math.ceil(GOLDEN_IMAGE_MAX_BYTES / 3) * 4, `at most ${GOLDEN_IMAGE_MAX_BYTES} bytes of image`),
  }),
  z
    .strictObject({
      kind: z.literal('tensor'),
      dims: z.array(z.number().int().nonnegative()).min(1).max(8),
      data: z.array(z.number()).max(1 << 16),
    })
    .refine((t) => t.dims.reduce((a, b) => a * b, 1) === t.data.length, { message: 'data length is not the product of dims', path: ['data'] }),
]);

/**
 * An input and the scores the packer's agent code produced for it: the output tensor as
 * float32 after the classifier's decision to apply softmax (the full vector in class order).
 * An agent passes a golden when every score is within `tolerance` (absolute) of `expected`.
 */
export const GoldenSchema = z.strictObject({
  input: GoldenInputSchema,
  expected: z.array(z.number()).min(1).max(100_000),
  tolerance: z.number().positive(),
});
export type Golden = z.infer<typeof GoldenSchema>;

/** The signed description of one model version. */
export const ModelManifest = z
  .strictObject({
    v: z.literal(1),
    name: modelName,
    version: ModelVersionSchema,
    /** Goes up with every manifest of this model name; an agent never accepts a lower one unless a signed rollback names it. */
    counter,
    createdAt: isoUtc,
    expiresAt: isoUtc,
    task: z.enum(MODEL_TASKS),
    inputs: z.array(TensorSpecSchema).min(1).max(64),
    outputs: z.array(TensorSpecSchema).min(1).max(64),
    preprocess: PreprocessSchema,
    output: ManifestOutputSchema.prefault({}),
    labels: z.array(z.string().max(256)).max(100_000).optional(),
    artifacts: z.array(ArtifactSchema).min(1).max(16),
    /** What normal inputs and outputs look like, for drift detection (`edgectl pack --reference`); null when none was packed. */
    referenceProfile: ReferenceProfileSchema.nullable().default(null),
    goldens: z.array(GoldenSchema).max(MAX_GOLDENS).default([]),
    /** Reserved for explanations; known keys only. */
    explain: z
      .strictObject({
        enabled: z.boolean().default(false),
        method: z.enum(['occlusion', 'shapley']).optional(),
        sampleRate: z.number().min(0).max(1).optional(),
      })
      .prefault({}),
    budgets: z.strictObject({ latencyP99Ms: z.number().positive().optional() }).optional(),
    minAgentVersion: semver,
    arch: z.array(z.enum(ARCHES)).min(1).max(ARCHES.length),
    packedBy: z.string().max(200).optional(),
    notes: z.string().max(4000).optional(),
    /** Training data, code, hyperparameters, validation metrics, who packed it and when (`edgectl pack` fills it). */
    lineage: LineageSchema.optional(),
  })
  .superRefine((m, ctx) => {
    if (Date.parse(m.expiresAt) <= Date.parse(m.createdAt)) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'expiresAt must be after createdAt' });
    if (new Set(m.arch).size !== m.arch.length) ctx.addIssue({ code: 'custom', path: ['arch'], message: 'an architecture is listed twice' });
    const models = m.artifacts.filter((a) => a.role === 'model').length;
    if (models !== 1) ctx.addIssue({ code: 'custom', path: ['artifacts'], message: `exactly one artifact with role "model", found ${models}` });
    const paths = new Set<string>();
    m.artifacts.forEach((a, i) => {
      if (paths.has(a.path)) ctx.addIssue({ code: 'custom', path: ['artifacts', i, 'path'], message: `"${a.path}" is listed twice` });
      paths.add(a.path);
    });
    if (m.output.tensor !== undefined && !m.outputs.some((o) => o.name === m.output.tensor)) {
      ctx.addIssue({ code: 'custom', path: ['output', 'tensor'], message: `no output "${m.output.tensor}" among outputs` });
    }
  });
export type ModelManifest = z.infer<typeof ModelManifest>;
/** A manifest as written, before defaults are applied. */
export type ModelManifestInput = z.input<typeof ModelManifest>;

/** The outcome of one check on a manifest: fine, or a stable code and a sentence for the event log. */
export type Check<Code extends string> = { ok: true } | { ok: false; code: Code; reason: string };

/**
 * Whether nowMs (epoch ms) lies within createdAt..expiresAt, widened by skewMs on both sides.
 * nowMs should come from a clock that a stepped wall clock cannot turn back (fault 19).
 */
export function checkManifestTime(
  m: Pick<ModelManifest, 'name' | 'version' | 'createdAt' | 'expiresAt'>,
  nowMs: number,
  opts: { skewMs?: number } = {},
): Check<'E_MANIFEST_EXPIRED' | 'E_MANIFEST_NOT_YET_VALID'> {
  const skew = opts.skewMs ?? DEFAULT_CLOCK_SKEW_MS;
  const now = new Date(nowMs).toISOString();
  if (nowMs > Date.parse(m.expiresAt) + skew) {
    return { ok: false, code: 'E_MANIFEST_EXPIRED', reason: `manifest of ${m.name} ${m.version} expired at ${m.expiresAt} (now ${now})` };
  }
  if (nowMs < Date.parse(m.createdAt) - skew) {
    return { ok: false, code: 'E_MANIFEST_NOT_YET_VALID', reason: `manifest of ${m.name} ${m.version} is dated ${m.createdAt}, in the future (now ${now}); is a clock wrong?` };
  }
  return { ok: true };
}

/** Whether this agent (its version and process.arch) may run the manifest's model. */
export function checkCompatibility(
  m: Pick<ModelManifest, 'name' | 'version' | 'minAgentVersion' | 'arch'>,
  agent: { agentVersion: string; arch: string },
): Check<'E_AGENT_TOO_OLD' | 'E_ARCH_UNSUPPORTED'> {
  // An agent that cannot state its own version is treated as too old rather than trusted.
  if (!isSemver(agent.agentVersion) || compareSemver(agent.agentVersion, m.minAgentVersion) < 0) {
    return { ok: false, code: 'E_AGENT_TOO_OLD', reason: `${m.name} ${m.version} needs agent ${m.minAgentVersion} or newer; this agent is ${agent.agentVersion}` };
  }
  if (!(m.arch as readonly string[]).includes(agent.arch)) {
    return { ok: false, code: 'E_ARCH_UNSUPPORTED', reason: `${m.name} ${m.version} is packed for ${m.arch.join(', ')}; this gateway is ${agent.arch}` };
  }
  return { ok: true };
}

/** The manifest's one artifact with role "model" (the schema guarantees there is exactly one). */
export function modelArtifact(m: Pick<ModelManifest, 'artifacts'>): Artifact {
  const a = m.artifacts.find((x) => x.role === 'model');
  if (!a) throw new TypeError('the manifest has no model artifact; was it parsed with ModelManifest?');
  return a;
}
