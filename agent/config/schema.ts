import { z } from 'zod';
import { PreprocessSchema, type PreprocessSpec } from '../../protocol/preprocess.js';
import { DEFAULT_TOPIC_PREFIX, DEVICE_ID_PATTERN } from '../../protocol/topics.js';
import { mjpegShape, rtspShape, snapshotShape, usbShape, usbSizeCheck, videoShape } from './camera-schema.js';
import { DriftSchema } from './drift-schema.js';
import { FailsafeSchema, SensorFailsafeSchema } from './failsafe-schema.js';
import { FeedbackSchema, SegmentsSchema } from './feedback-schema.js';
import { RolloutSchema } from './rollout-schema.js';
import { crossCheckSensors, OpcuaSchema, TabularModelSchema } from './sensor-schema.js';

// One definition, shared with signed model manifests; re-exported so agent code keeps its imports.
export { PreprocessSchema, type PreprocessSpec };

/*
 * The one place defaults live. Every object is strict: an unknown key is an error,
 * because a misspelt key silently ignored is a plant running on a default.
 */

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - only (at most 64), starting with a letter or digit');
const ms = z.number().int().nonnegative();
const positiveMs = z.number().int().positive();

export const ClassifierOutputSchema = z.strictObject({
  type: z.literal('classifier').default('classifier'),
  /** Output tensor name; the model's first output when absent. */
  tensor: z.string().optional(),
  /** `auto` applies softmax only when the scores are not already probabilities. */
  softmax: z.enum(['auto', 'always', 'never']).default('auto'),
  topK: z.number().int().min(1).max(100).default(3),
});

/** Which predictions of a model get an explanation, and what it may cost. */
export const ExplainSchema = z.strictObject({
  /** Labels explained every time, e.g. `defect`, `reject`. */
  classes: z.array(z.string().min(1)).default([]),
  /** Every prediction while a drift or data alarm is active for the model. */
  onAlarm: z.boolean().default(true),
  /** Share of the other predictions explained, at random. */
  sampleRate: z.number().min(0).max(1).default(0),
  /** Occlusion grid: the image is covered cell by cell of grid × grid. */
  grid: z.number().int().min(2).max(32).default(6),
  /** Covered patches widen up to this many cells while no patch moves the score. */
  maxPatch: z.number().int().min(1).max(8).default(4),
  /** What covers a cell: the image's mean colour, or the image blurred. */
  fill: z.enum(['mean', 'blur']).default('mean'),
  /** Perturbed images per run when the model takes batches. */
  batchSize: z.number().int().min(1).max(256).default(16),
  /** Store a small PNG of the image with the map over it; `syncOverlay` also sends it to central. */
  overlay: z.boolean().default(true),
  syncOverlay: z.boolean().default(false),
  /** Explanation work is capped at this share of the model's live inference time. */
  cpuShare: z.number().min(0).max(1000).default(1),
  /** Explanations waiting for an idle slot; beyond, a prediction is skipped and counted. */
  queue: z.number().int().min(1).max(256).default(4),
  /** Shapley values (sensor models): every coalition up to this many features, KernelSHAP with `samples` coalitions beyond. */
  exactUpTo: z.number().int().min(1).max(14).default(10),
  samples: z.number().int().min(16).max(100_000).default(1024),
  /** Background rows for Shapley values when the model's manifest has no reference profile. */
  background: z.array(z.array(z.number().finite()).min(1)).min(1).max(1000).optional(),
});
export type ExplainConfig = z.infer<typeof ExplainSchema>;

export const ModelSchema = z
  .strictObject({
    name: id,
    version: z.string().min(1).default('0.0.0'),
    path: z.string().min(1),
    /** Labels inline, or a file with one label per line. */
    labels: z.array(z.string()).optional(),
    labelsFile: z.string().optional(),
    /** Input tensor name; the model's first input when absent. */
    input: z.string().optional(),
    threads: z.number().int().min(1).max(64).default(1),
    /**
     * Worker threads that run this model, each with its own session of `threads` threads,
     * started with the first frame: inferences run beside each other and beside decoding
     * and the store. 0 runs inference on the event loop.
     */
    workers: z.number().int().min(0).max(16).default(2),
    preprocess: PreprocessSchema,
    output: ClassifierOutputSchema.prefault({}),
    /** Explanations of this model's predictions; none when absent. */
    explain: ExplainSchema.optional(),
    drift: DriftSchema,
    /** Fallback model, rules and manual inspection when this model cannot answer; none when absent. */
    failsafe: FailsafeSchema.optional(),
    /** Live accuracy from operators' and central's labels. */
    feedback: FeedbackSchema,
  })
  .refine((m) => !(m.labels && m.labelsFile), { message: 'give labels or labelsFile, not both', path: ['labelsFile'] });
export type ModelConfig = z.infer<typeof ModelSchema>;

const sourceCommon = {
  id,
  /** Models this source feeds, by name; every model when absent. */
  models: z.array(id).min(1).optional(),
};

export const FolderSourceSchema = z.strictObject({
  ...sourceCommon,
  type: z.literal('folder'),
  path: z.string().min(1),
  /** A file is read once its size and mtime have not changed for this long. */
  stableMs: ms.default(300),
  pollMs: positiveMs.default(100),
  /** What happens to a file once its prediction is committed. */
  afterProcess: z.enum(['move', 'delete']).default('move'),
  /** Defaults to `<path>/done` and `<path>/rejected`. */
  doneDir: z.string().optional(),
  rejectedDir: z.string().optional(),
  maxBytes: z.number().int().positive().default(64 * 1024 * 1024),
  extensions: z.array(z.string().regex(/^\.[a-z0-9]+$/)).default(['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp']),
});

export const SyntheticSourceSchema = z.strictObject({
  ...sourceCommon,
  type: z.literal('synthetic'),
  fps: z.number().positive().max(1000).default(5),
  width: z.number().int().min(32).max(8192).default(640),
  height: z.number().int().min(32).max(8192).default(480),
  /** Share of parts drawn with a scratch or a spot. */
  defectRate: z.number().min(0).max(1).default(0.2),
  seed: z.number().int().default(1),
  /** Stop after this many frames; 0 runs until stopped. */
  limit: z.number().int().nonnegative().default(0),
  /** `triggered`: a frame only when an OPC-UA trigger (opcua.triggers) fires, e.g. a part-present edge. */
  mode: z.enum(['free', 'triggered']).default('free'),
});

// Network and ffmpeg cameras; their keys are in camera-schema.ts.
export const SnapshotSourceSchema = z.strictObject({ ...sourceCommon, ...snapshotShape });
export const MjpegSourceSchema = z.strictObject({ ...sourceCommon, ...mjpegShape });
export const RtspSourceSchema = z.strictObject({ ...sourceCommon, ...rtspShape });
export const UsbSourceSchema = z.strictObject({ ...sourceCommon, ...usbShape }).refine(usbSizeCheck, { message: 'give width and height together', path: ['height'] });
export const VideoSourceSchema = z.strictObject({ ...sourceCommon, ...videoShape });

export const SourceSchema = z.discriminatedUnion('type', [FolderSourceSchema, SyntheticSourceSchema, SnapshotSourceSchema, MjpegSourceSchema, RtspSourceSchema, UsbSourceSchema, VideoSourceSchema]);
export type SourceConfig = z.infer<typeof SourceSchema>;
export type FolderSourceConfig = z.infer<typeof FolderSourceSchema>;
export type SyntheticSourceConfig = z.infer<typeof SyntheticSourceSchema>;
export type SnapshotSourceConfig = z.infer<typeof SnapshotSourceSchema>;
export type MjpegSourceConfig = z.infer<typeof MjpegSourceSchema>;
export type RtspSourceConfig = z.infer<typeof RtspSourceSchema>;
export type UsbSourceConfig = z.infer<typeof UsbSourceSchema>;
export type VideoSourceConfig = z.infer<typeof VideoSourceSchema>;

export const BufferSchema = z.strictObject({
  path: z.string().min(1).default('/var/lib/edge-agent/agent.db'),
  /** At most this many predictions per transaction... */
  batchSize: z.number().int().min(1).max(10_000).default(64),
  /** ...and at most one commit (one fsync) per this many ms; an idle store commits at once. */
  lingerMs: ms.default(20),
  busyTimeoutMs: ms.default(5000),
  /** Byte budgets, checked before writes; see the README's store-and-forward section for the eviction order. */
  quota: z
    .strictObject({
      storeBytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024),
      samplesBytes: z.number().int().nonnegative().default(256 * 1024 * 1024),
      modelsBytes: z.number().int().nonnegative().default(2 * 1024 * 1024 * 1024),
    })
    .prefault({}),
  /** Seconds between WAL checkpoints. */
  checkpointS: z.number().int().positive().default(60),
});

export const TlsSchema = z.strictObject({
  /** Paths to PEM files; never inline secrets. */
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
  servername: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

export const BrokerSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/.+/, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
  /** Defaults to the device id. */
  clientId: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5),
  keepaliveS: z.number().int().min(5).max(3600).default(30),
  topicPrefix: z.string().min(1).default(DEFAULT_TOPIC_PREFIX),
  tls: TlsSchema.optional(),
  batch: z
    .strictObject({
      maxCount: z.number().int().min(1).max(10_000).default(100),
      /**
       * Batches of the backlog after an outage: larger, since nobody waits on their latency,
       * and each batch has a cost of its own (publish, ack, compression set-up) that a drain
       * of hundreds of thousands of rows pays per batch.
       */
      backlogMaxCount: z.number().int().min(1).max(10_000).default(2000),
      /** Bytes of a batch's records before compression (central inflates up to 4 MiB). */
      maxBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(1024 * 1024),
      lingerMs: ms.default(50),
    })
    .prefault({}),
  reconnect: z
    .strictObject({ minMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) })
    .prefault({}),
  /** How long the broker keeps the session (subscriptions, queued messages) after a disconnect; MQTT 5. */
  sessionExpiryS: z.number().int().nonnegative().default(3600),
  /** Predictions batches awaiting their PUBACK at once. */
  inflight: z.number().int().min(1).max(64).default(4),
  /** Batches are gzip-compressed unless `none`. */
  compression: z.enum(['gzip', 'none']).default('gzip'),
  /** After an outage, the backlog drains at most this fast (predictions/s, 0 = no limit); live predictions go first. */
  backlogRatePerS: z.number().int().nonnegative().default(250_000),
  /** Every inbound message is refused above this size (the broker is told too, MQTT 5), and beyond this rate per topic filter. */
  inbound: z
    .strictObject({
      maxBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
      ratePerS: z.number().int().positive().default(20),
      burst: z.number().int().positive().default(50),
    })
    .prefault({}),
  /** Seconds between health reports to central; the audit events go with them. */
  telemetryS: z.number().int().positive().default(30),
  /** `batches`: JSON prediction batches (edgectl ingest); `sparkplug`: Sparkplug B, for SCADA hosts such as Ignition. */
  output: z.enum(['batches', 'sparkplug']).default('batches'),
  sparkplug: z
    .strictObject({
      groupId: z.string().regex(/^[^/+#]+$/, 'one topic level').default('edge'),
      /** Defaults to the device id. */
      edgeNodeId: z.string().regex(/^[^/+#]+$/, 'one topic level').optional(),
      /** Publish only while this primary host application reports itself online on spBv1.0/STATE/<id>. */
      primaryHostId: z.string().regex(/^[^/+#]+$/, 'one topic level').optional(),
      /** Seconds between Health/* metrics in NDATA. */
      healthS: z.number().int().positive().default(10),
    })
    .prefault({}),
});
export type BrokerConfig = z.infer<typeof BrokerSchema>;

export const LedSchema = z
  .strictObject({
    driver: z.enum(['none', 'sysfs', 'gpio']).default('none'),
    /** sysfs: the LED's folder name under `sysfsRoot`, e.g. `status` or `led0`. */
    name: z.string().regex(/^[^/]+$/, 'a folder name under sysfsRoot, without /').optional(),
    sysfsRoot: z.string().min(1).default('/sys/class/leds'),
    /** gpio: the gpiochip (`gpiochip0`) and line offset driven with libgpiod's gpioset. */
    chip: z.string().min(1).optional(),
    line: z.number().int().nonnegative().optional(),
    activeLow: z.boolean().default(false),
  })
  .superRefine((led, ctx) => {
    if (led.driver === 'sysfs' && !led.name) ctx.addIssue({ code: 'custom', path: ['name'], message: 'required for driver sysfs' });
    if (led.driver === 'gpio' && !led.chip) ctx.addIssue({ code: 'custom', path: ['chip'], message: 'required for driver gpio' });
    if (led.driver === 'gpio' && led.line === undefined) ctx.addIssue({ code: 'custom', path: ['line'], message: 'required for driver gpio' });
  });
export type LedConfig = z.infer<typeof LedSchema>;

export const StatusSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Loopback by default: the page is opened on the plant network only by choice (`0.0.0.0`). */
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Unlocks the POST actions as `Authorization: Bearer <token>`; without one (or tokenFile) every action is refused. */
    token: z.string().min(16, 'at least 16 characters').regex(/^\S+$/, 'no spaces').optional(),
    /** A file holding the token, relative to the config file; keeps the secret out of the config. */
    tokenFile: z.string().min(1).optional(),
    /** A free-running camera that sent no frame for this long is shown as stalled. */
    sourceStaleS: z.number().positive().default(10),
    /** Predictions whose top score is below this are flagged (low confidence) on the page. */
    flagBelowScore: z.number().min(0).max(1).default(0.6),
    health: z
      .strictObject({
        /** Broker connected but the oldest unsent prediction older than this: degraded. */
        backlogDegradedS: z.number().positive().default(120),
        /** Free space (%) on the store's filesystem below which the agent is degraded, then faulty. */
        diskFreeDegradedPct: z.number().min(0).max(100).default(10),
        diskFreeFaultPct: z.number().min(0).max(100).default(2),
      })
      .prefault({}),
    led: LedSchema.prefault({}),
  })
  .refine((s) => !(s.token && s.tokenFile), { message: 'give token or tokenFile, not both', path: ['tokenFile'] });

export const ConfigSchema = z
  .strictObject({
    deviceId: z.string().regex(DEVICE_ID_PATTERN, 'letters, digits, . _ - only (at most 64), starting with a letter or digit'),
    site: z.string().min(1).default('default'),
    log: z.strictObject({ level: z.enum(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).prefault({}),
    sources: z.array(SourceSchema).min(1),
    models: z.array(ModelSchema).min(1),
    pipeline: z
      .strictObject({
        /** Frames in flight at once: 3 keeps one frame decoding while the two inference workers run the others. */
        concurrency: z.number().int().min(1).max(16).default(3),
        /** Frames waiting per source; a free-running camera drops the oldest beyond this. */
        queueSize: z.number().int().min(1).max(1000).default(4),
      })
      .prefault({}),
    buffer: BufferSchema.prefault({}),
    broker: BrokerSchema,
    status: StatusSchema.prefault({}),
    shutdown: z.strictObject({ deadlineMs: positiveMs.default(10_000) }).prefault({}),
    memory: z
      .strictObject({
        /** Between two hand-backs of glibc's free heap pages to the system (malloc_trim); 0 turns them off. */
        trimIntervalMs: z.number().int().min(0).max(3_600_000).default(10_000),
      })
      .prefault({}),
    rollout: RolloutSchema.prefault({}),
    opcua: OpcuaSchema.prefault({}),
    /** Tabular and anomaly models fed by OPC-UA feature windows. */
    sensorModels: z.array(TabularModelSchema.extend({ explain: ExplainSchema.optional(), failsafe: SensorFailsafeSchema.optional(), feedback: FeedbackSchema })).default([]),
    /** Statistics per camera, line or product code, and disparities between them. */
    segments: SegmentsSchema,
  })
  // Runs even when entries are malformed, so these problems are listed with all the others.
  .superRefine((cfg, ctx) => crossCheck(cfg, ctx), { when: () => true })
  .superRefine((cfg, ctx) => crossCheckSensors(cfg as Record<string, unknown>, ctx), { when: () => true });

/** Ids must be unique and routes must name existing models; tolerant of half-valid input. */
function crossCheck(cfg: unknown, ctx: z.RefinementCtx): void {
  const list = (key: string): Array<Record<string, unknown>> => {
    const v = (cfg as Record<string, unknown> | null)?.[key];
    return Array.isArray(v) ? v.map((e) => (e !== null && typeof e === 'object' ? (e as Record<string, unknown>) : {})) : [];
  };
  const models = list('models');
  const names = new Set(models.map((m) => m.name));
  const duplicate = (entries: Array<Record<string, unknown>>, key: string, section: string, what: string) => {
    const seen = new Set<unknown>();
    entries.forEach((e, i) => {
      if (typeof e[key] !== 'string') return;
      if (seen.has(e[key])) ctx.addIssue({ code: 'custom', path: [section, i, key], message: `duplicate ${what} "${String(e[key])}"` });
      seen.add(e[key]);
    });
  };
  duplicate(models, 'name', 'models', 'model name');
  const sources = list('sources');
  duplicate(sources, 'id', 'sources', 'source id');
  sources.forEach((s, i) => {
    if (!Array.isArray(s.models)) return;
    s.models.forEach((name: unknown, j: number) => {
      if (typeof name === 'string' && !names.has(name)) ctx.addIssue({ code: 'custom', path: ['sources', i, 'models', j], message: `no model named "${name}"` });
    });
  });
}

export type AgentConfig = z.infer<typeof ConfigSchema>;
/** The config as written, before defaults are applied. */
export type AgentConfigInput = z.input<typeof ConfigSchema>;
