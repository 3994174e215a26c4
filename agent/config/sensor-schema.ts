import { z } from 'zod';
import { DriftSchema } from './drift-schema.js';

/*
 * OPC-UA connections, tabular models and the feature windows that feed them.
 * Defaults live here only; every object is strict like the rest of the config.
 */

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - only (at most 64), starting with a letter or digit');
const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();
/** `ns=2;s=Line3.Temperature`, `i=2258`, `ns=1;g=...`, `ns=3;b=...`: the forms operators copy from a browser. */
const nodeId = z.string().regex(/^(ns=\d+;)?[isgb]=.+$/, 'an OPC-UA node id such as ns=2;s=Line3.Temperature or i=2258');

export const SecurityModes = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SecurityPolicies = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

export const IdentitySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('anonymous') }),
  z.strictObject({
    type: z.literal('username'),
    username: z.string().min(1),
    /** Put it in the environment (EDGE_AGENT__OPCUA__SERVERS__0__IDENTITY__PASSWORD), not in the file. */
    password: z.string(),
  }),
  z.strictObject({
    type: z.literal('certificate'),
    /** PEM files of the user certificate and its private key. */
    cert: z.string().min(1),
    key: z.string().min(1),
  }),
]);

export const DeadbandSchema = z.strictObject({
  type: z.enum(['absolute', 'percent']),
  value: z.number().nonnegative(),
});

export const TagSchema = z
  .strictObject({
    /** The name features, rules and triggers use; unique across all servers. */
    name: id,
    nodeId,
    samplingMs: ms.default(100),
    /** Samples the server keeps between publishes; a window needs every one of them. */
    queueSize: z.number().int().min(1).max(10_000).default(10),
    deadband: DeadbandSchema.optional(),
    /**
     * Without a deadband `StatusValueTimestamp`: a sample whenever the source stamps a new
     * reading, even unchanged, since a stuck sensor is only visible when its repeated value
     * is reported. With a deadband `StatusValue`, because a new timestamp would report every
     * sample and defeat the deadband (OPC-UA Part 4, 7.22.2).
     */
    trigger: z.enum(['Status', 'StatusValue', 'StatusValueTimestamp']).optional(),
  })
  .refine((t) => !(t.deadband && t.trigger === 'StatusValueTimestamp'), { message: 'a deadband has no effect with trigger StatusValueTimestamp; use StatusValue', path: ['trigger'] })
  .transform((t) => ({ ...t, trigger: t.trigger ?? (t.deadband ? ('StatusValue' as const) : ('StatusValueTimestamp' as const)) }));
export type TagConfig = z.infer<typeof TagSchema>;

export const OpcuaServerSchema = z
  .strictObject({
    id,
    endpoint: z.string().regex(/^opc\.tcp:\/\/[^\s/]+(:\d+)?(\/.*)?$/, 'an opc.tcp://host:port URL'),
    securityMode: z.enum(SecurityModes).default('SignAndEncrypt'),
    securityPolicy: z.enum(SecurityPolicies).default('Basic256Sha256'),
    identity: IdentitySchema.prefault({ type: 'anonymous' }),
    publishingIntervalMs: positiveMs.default(100),
    /** The server drops the subscription after lifetimeCount publishing intervals without a client. */
    lifetimeCount: z.number().int().min(3).max(100_000).default(600),
    maxKeepAliveCount: z.number().int().min(1).max(10_000).default(10),
    sessionTimeoutMs: positiveMs.default(60_000),
    reconnect: z.strictObject({ minMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) }).prefault({}),
    tags: z.array(TagSchema).min(1),
  })
  .superRefine((s, ctx) => {
    if ((s.securityMode === 'None') !== (s.securityPolicy === 'None')) {
      ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: `securityMode ${s.securityMode} needs ${s.securityMode === 'None' ? 'securityPolicy None' : 'a securityPolicy other than None'}` });
    }
    if (s.lifetimeCount < 3 * s.maxKeepAliveCount) {
      ctx.addIssue({ code: 'custom', path: ['lifetimeCount'], message: 'must be at least 3 × maxKeepAliveCount (OPC-UA Part 4)' });
    }
  });
export type OpcuaServerConfig = z.infer<typeof OpcuaServerSchema>;

export const CameraTriggerSchema = z.strictObject({
  /** The bit whose edge means a part is in front of the camera. */
  tag: id,
  edge: z.enum(['rising', 'falling']).default('rising'),
  /** The camera source that captures: any camera with `mode: triggered`. */
  camera: id,
  /** Read at the edge and carried in the frame and its prediction. */
  partIdTag: id.optional(),
});

export const OpcuaSchema = z.strictObject({
  /** `own/`, `trusted/`, `rejected/`: the application certificate is created here on first start. */
  pkiDir: z.string().min(1).default('/var/lib/edge-agent/pki'),
  applicationName: z.string().min(1).default('edge-agent'),
  servers: z.array(OpcuaServerSchema).default([]),
  triggers: z.array(CameraTriggerSchema).default([]),
});
export type OpcuaConfig = z.infer<typeof OpcuaSchema>;

export const FeatureFunctions = ['last', 'mean', 'min', 'max', 'std', 'slope', 'count'] as const;
export type FeatureFunction = (typeof FeatureFunctions)[number];

export const FeatureSchema = z.strictObject({
  tag: id,
  fn: z.enum(FeatureFunctions).default('last'),
  /** Used when the tag has no current value and `window.onMissing` is `impute`. */
  impute: z.number().optional(),
});

export const WindowSchema = z
  .strictObject({
    /** Samples whose source timestamp lies in (end − sizeMs, end] feed the features. */
    sizeMs: positiveMs.default(1000),
    /** A window ends every `everyMs` on the wall clock (aligned to multiples of it)... */
    everyMs: positiveMs.optional(),
    /** ...or at an edge of a tag. */
    trigger: z.strictObject({ tag: id, edge: z.enum(['rising', 'falling']).default('rising') }).optional(),
    /** Wait this long after a window's end for late notifications before computing it. */
    graceMs: ms.default(150),
    /** A tag with no confirmation from its server (sample or keep-alive) for this long is stale. */
    staleMs: positiveMs.default(5000),
    /** `skip`: no prediction; `impute`: the feature's `impute` value, or the last known value, and the prediction is flagged. */
    onMissing: z.enum(['skip', 'impute']).default('skip'),
  })
  .refine((w) => (w.everyMs === undefined) !== (w.trigger === undefined), { message: 'give everyMs or trigger, exactly one', path: ['everyMs'] });

export const TagRuleSchema = z.strictObject({
  tag: id,
  min: z.number().optional(),
  max: z.number().optional(),
  /** Largest change per second between two samples. */
  maxRatePerS: z.number().positive().optional(),
  /** The same value this many samples in a row: the sensor is stuck. */
  stuckSamples: z.number().int().min(2).optional(),
  /** Allowed values of a categorical tag (a mode or recipe number). */
  allowed: z.array(z.union([z.number(), z.string(), z.boolean()])).min(1).optional(),
});
export type TagRule = z.infer<typeof TagRuleSchema>;

export const ValidationSchema = z
  .strictObject({
    /** `flag` keeps the prediction and names the violation; `skip` makes none. */
    onViolation: z.enum(['flag', 'skip']).default('flag'),
    /** Timestamps that go backwards are always a violation; rules add ranges, rates, stuck sensors, allowed values. */
    rules: z.array(TagRuleSchema).default([]),
    /** A JSON or YAML file shipped with the model (its manifest of input limits), merged with `rules`. */
    file: z.string().min(1).optional(),
  })
  .prefault({});

export const WriteBackSchema = z.strictObject({
  server: id,
  nodeId,
  /** What is written: the label, its score, a regressor's value, an anomaly score, or 1/0 for anomalous/flagged. */
  value: z.enum(['label', 'score', 'value', 'anomalyScore', 'anomaly']).default('score'),
  dataType: z.enum(['Double', 'Float', 'Int32', 'Boolean', 'String']).default('Double'),
  retries: z.number().int().min(0).max(100).default(3),
  retryMs: positiveMs.default(500),
});

export const TabularOutputSchema = z
  .strictObject({
    /** classifier: label + probabilities; regressor: one value; anomaly: label/scores (scikit-learn −1 = outlier); tensor: the raw values. */
    kind: z.enum(['classifier', 'regressor', 'anomaly', 'tensor']).default('classifier'),
    /** Output names; found by the usual names (output_label, output_probability, label, scores, variable) when absent. */
    label: z.string().optional(),
    scores: z.string().optional(),
    topK: z.number().int().min(1).max(100).default(3),
    softmax: z.enum(['auto', 'always', 'never']).default('auto'),
    /** Anomaly models: a score below this counts as anomalous when the model gives no label. */
    threshold: z.number().optional(),
  })
  .prefault({});

export const TabularModelSchema = z
  .strictObject({
    name: id,
    version: z.string().min(1).default('0.0.0'),
    path: z.string().min(1),
    labels: z.array(z.string()).optional(),
    input: z.string().optional(),
    threads: z.number().int().min(1).max(64).default(1),
    /** Input order of the model: one column per feature. */
    features: z.array(FeatureSchema).min(1),
    window: WindowSchema.prefault({ everyMs: 1000 }),
    output: TabularOutputSchema,
    validation: ValidationSchema,
    writeBack: WriteBackSchema.optional(),
    /** Drift of the feature windows and the answers, against `drift.referenceFile`. */
    drift: DriftSchema,
  });
export type TabularModelConfig = z.infer<typeof TabularModelSchema>;
export type FeatureConfig = z.infer<typeof FeatureSchema>;
export type WindowConfig = z.infer<typeof WindowSchema>;
export type ValidationConfig = z.infer<typeof ValidationSchema>;
export type WriteBackConfig = z.infer<typeof WriteBackSchema>;

/** Tag names, servers and cameras referenced anywhere must exist; tolerant of half-valid input. */
export function crossCheckSensors(cfg: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(obj) : []);
  const opcua = obj(cfg.opcua);
  const servers = list(opcua.servers);
  const tags = new Set<unknown>();
  servers.forEach((s, i) =>
    list(s.tags).forEach((t, j) => {
      if (typeof t.name !== 'string') return;
      if (tags.has(t.name)) ctx.addIssue({ code: 'custom', path: ['opcua', 'servers', i, 'tags', j, 'name'], message: `duplicate tag name "${t.name}"` });
      tags.add(t.name);
    }),
  );
  const serverIds = new Set(servers.map((s) => s.id));
  const cameras = new Map(list(cfg.sources).map((s) => [s.id, s]));
  const needTag = (v: unknown, path: (string | number)[]) => {
    if (typeof v === 'string' && !tags.has(v)) ctx.addIssue({ code: 'custom', path, message: `no OPC-UA tag named "${v}"` });
  };
  list(opcua.triggers).forEach((t, i) => {
    needTag(t.tag, ['opcua', 'triggers', i, 'tag']);
    needTag(t.partIdTag, ['opcua', 'triggers', i, 'partIdTag']);
    const cam = typeof t.camera === 'string' ? cameras.get(t.camera) : undefined;
    if (typeof t.camera === 'string' && !cam) ctx.addIssue({ code: 'custom', path: ['opcua', 'triggers', i, 'camera'], message: `no source named "${t.camera}"` });
    else if (cam && cam.mode !== 'triggered') {
      ctx.addIssue({ code: 'custom', path: ['opcua', 'triggers', i, 'camera'], message: `source "${String(t.camera)}" is not a triggered camera (mode: triggered)` });
    }
  });
  const imageNames = new Set(list(cfg.models).map((m) => m.name));
  const seen = new Set<unknown>();
  list(cfg.sensorModels).forEach((m, i) => {
    if (typeof m.name === 'string' && (imageNames.has(m.name) || seen.has(m.name))) {
      ctx.addIssue({ code: 'custom', path: ['sensorModels', i, 'name'], message: `duplicate model name "${m.name}"` });
    }
    seen.add(m.name);
    list(m.features).forEach((f, j) => needTag(f.tag, ['sensorModels', i, 'features', j, 'tag']));
    needTag(obj(obj(m.window).trigger).tag, ['sensorModels', i, 'window', 'trigger', 'tag']);
    list(obj(m.validation).rules).forEach((r, j) => needTag(r.tag, ['sensorModels', i, 'validation', 'rules', j, 'tag']));
    const wb = obj(m.writeBack);
    if (typeof wb.server === 'string' && !serverIds.has(wb.server)) {
      ctx.addIssue({ code: 'custom', path: ['sensorModels', i, 'writeBack', 'server'], message: `no OPC-UA server named "${wb.server}"` });
    }
  });
}
