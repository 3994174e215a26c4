import { decompressed } from '../../protocol/compression.js';
import { parsePayload, type ParseResult } from '../../protocol/parse.js';
import { MAX_BATCH_BYTES, PredictionBatch } from '../../protocol/predictions.js';
import { DeviceStatus } from '../../protocol/status.js';
import { CheckedExplanationBatch } from '../../protocol/explanations.js';
import { DriftWindowBatch, EventBatch, type ExplanationBatch, HealthReport, MAX_SAMPLE_BYTES, MAX_TELEMETRY_BYTES, SampleMessage } from '../../protocol/telemetry.js';
import { deviceOfTopic } from '../../protocol/topics.js';
import { LabelBatch, SegmentStatsBatch } from '../../protocol/feedback.js';

/** Status messages are tiny; anything bigger is not one. */
const MAX_STATUS_BYTES = 16 * 1024;

/** A message ingest understands, checked against its schema and its topic. */
export type Inbound =
  | { kind: 'predictions'; device: string; value: PredictionBatch }
  | { kind: 'status'; device: string; value: DeviceStatus | undefined }
  | { kind: 'events'; device: string; value: EventBatch }
  | { kind: 'health'; device: string; value: HealthReport }
  | { kind: 'explanations'; device: string; value: ExplanationBatch }
  | { kind: 'samples'; device: string; value: SampleMessage; data: Buffer }
  | { kind: 'drift'; device: string; value: DriftWindowBatch }
  | { kind: 'labels'; device: string; value: LabelBatch }
  | { kind: 'segments'; device: string; value: SegmentStatsBatch };

/** Topic levels after `<prefix>/<device>/` that ingest subscribes to. */
export const INGESTED_KINDS = ['predictions', 'status', 'events', 'health', 'explanations', 'samples', 'drift', 'labels', 'segments'] as const;

/**
 * Decodes one message: the topic names the device and the kind; the payload is size-checked,
 * gunzipped within the same limit when compressed, parsed and validated, and must name the
 * device of its topic. A refusal says what was wrong.
 */
export function decode(prefix: string, topic: string, payload: Buffer): ParseResult<Inbound> {
  const device = deviceOfTopic(prefix, topic);
  const kind = device === undefined ? undefined : topic.slice(prefix.length + device.length + 2);
  if (device === undefined || !(INGESTED_KINDS as readonly string[]).includes(kind ?? '')) return { ok: false, reason: 'not a device topic ingest handles' };
  const mine = <T extends { device: string }>(r: ParseResult<T>, what: string): ParseResult<T> => {
    if (!r.ok) return r;
    if (r.value.device !== device) return { ok: false, reason: `${what} of device "${r.value.device}" on the topic of "${device}"` };
    return r;
  };
  switch (kind) {
    case 'predictions': {
      const r = mine(parseMaybeGzip(PredictionBatch, payload, MAX_BATCH_BYTES), 'batch');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'status': {
      // An empty retained message clears the status: nothing to store.
      if (payload.length === 0) return { ok: true, value: { kind, device, value: undefined } };
      const r = mine(parsePayload(DeviceStatus, payload, MAX_STATUS_BYTES), 'status');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'events': {
      const r = mine(parseMaybeGzip(EventBatch, payload, MAX_TELEMETRY_BYTES), 'events');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'health': {
      const r = mine(parseMaybeGzip(HealthReport, payload, MAX_TELEMETRY_BYTES), 'health report');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'explanations': {
      const r = mine(parseMaybeGzip(CheckedExplanationBatch, payload, MAX_TELEMETRY_BYTES), 'explanations');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'drift': {
      const r = mine(parseMaybeGzip(DriftWindowBatch, payload, MAX_TELEMETRY_BYTES), 'drift windows');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'labels': {
      const r = mine(parseMaybeGzip(LabelBatch, payload, MAX_TELEMETRY_BYTES), 'labels');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    case 'segments': {
      const r = mine(parseMaybeGzip(SegmentStatsBatch, payload, MAX_TELEMETRY_BYTES), 'segment statistics');
      return r.ok ? { ok: true, value: { kind, device, value: r.value } } : r;
    }
    default: {
      const r = mine(parseMaybeGzip(SampleMessage, payload, MAX_SAMPLE_BYTES), 'sample');
      return r.ok ? { ok: true, value: { kind: 'samples', device, value: r.value, data: Buffer.from(r.value.data, 'base64') } } : r;
    }
  }
}

function parseMaybeGzip<S extends Parameters<typeof parsePayload>[0]>(schema: S, payload: Buffer, maxBytes: number): ReturnType<typeof parsePayload<S>> {
  if (payload.length > maxBytes) return { ok: false, reason: `payload of ${payload.length} bytes exceeds the limit of ${maxBytes}` };
  const raw = decompressed(payload, maxBytes);
  if (!raw.ok) return raw;
  return parsePayload(schema, raw.value, maxBytes);
}
