import { parsePayload } from '../../protocol/parse.js';
import { ROLLOUT_REPORT_MAX_BYTES, RolloutReport } from '../../protocol/rollout-state.js';
import { DeviceStatus } from '../../protocol/status.js';
import { DEVICE_ID_PATTERN, RESERVED_TOPIC_LEVELS, fleetFilters } from '../../protocol/topics.js';
import type { BrokerClient, ReadRetainedOptions } from '../rollout/connection.js';

/*
 * What the broker knows about the fleet: each device's retained status (online/offline,
 * site) and retained rollout report (what it serves, where its last model switch stands).
 * Every payload is checked against the wire contract, size first; a refused one is
 * reported, never acted on.
 */

/** protocol/ has no size limit for a status; it is tiny, and the ingest uses the same bound. */
export const STATUS_MAX_BYTES = 16 * 1024;

/** One device as the retained messages describe it. */
export interface FleetDevice {
  id: string;
  status?: DeviceStatus;
  report?: RolloutReport;
}

/** A retained message that was not acted on, and why. */
export interface RefusedMessage {
  topic: string;
  reason: string;
}

export interface FleetSnapshot {
  /** By device id. */
  devices: Map<string, FleetDevice>;
  refused: RefusedMessage[];
}

/** A parsed device message, nothing (an empty payload: a cleared retained message, or not a device topic), or a refusal. */
export type FleetMessage =
  | { kind: 'status'; device: string; status: DeviceStatus }
  | { kind: 'report'; device: string; report: RolloutReport }
  | { kind: 'ignored' }
  | { kind: 'refused'; refused: RefusedMessage };

/** Parses one message from `<prefix>/<device>/status` or `<prefix>/<device>/rollout`. */
export function parseFleetMessage(prefix: string, topic: string, payload: Buffer): FleetMessage {
  const levels = topic.startsWith(`${prefix}/`) ? topic.slice(prefix.length + 1).split('/') : [];
  const [device, kind] = levels;
  if (levels.length !== 2 || device === undefined || (kind !== 'status' && kind !== 'rollout')) return { kind: 'ignored' };
  // `<prefix>/rollouts/rollout` is the progress of a rollout named "rollout", not a device.
  if (RESERVED_TOPIC_LEVELS.includes(device)) return { kind: 'ignored' };
  if (payload.length === 0) return { kind: 'ignored' };
  const refuse = (reason: string): FleetMessage => ({ kind: 'refused', refused: { topic, reason } });
  if (!DEVICE_ID_PATTERN.test(device)) return refuse('not a valid device id in the topic');
  if (kind === 'status') {
    const parsed = parsePayload(DeviceStatus, payload, STATUS_MAX_BYTES);
    if (!parsed.ok) return refuse(parsed.reason);
    if (parsed.value.device !== device) return refuse(`status of device "${parsed.value.device}" on the topic of "${device}"`);
    return { kind: 'status', device, status: parsed.value };
  }
  const parsed = parsePayload(RolloutReport, payload, ROLLOUT_REPORT_MAX_BYTES);
  if (!parsed.ok) return refuse(parsed.reason);
  if (parsed.value.device !== device) return refuse(`rollout report of device "${parsed.value.device}" on the topic of "${device}"`);
  return { kind: 'report', device, report: parsed.value };
}

/** Applies one parsed message to a device map; returns the refusal, if it was one. */
export function applyFleetMessage(devices: Map<string, FleetDevice>, message: FleetMessage): RefusedMessage | undefined {
  if (message.kind === 'refused') return message.refused;
  if (message.kind === 'ignored') return undefined;
  const entry = devices.get(message.device) ?? { id: message.device };
  if (message.kind === 'status') entry.status = message.status;
  else entry.report = message.report;
  devices.set(message.device, entry);
  return undefined;
}

/** Reads every retained status and rollout report under prefix. */
export async function readFleet(client: BrokerClient, prefix: string, opts: ReadRetainedOptions = {}): Promise<FleetSnapshot> {
  const filters = fleetFilters(prefix);
  const messages = await client.readRetained([filters.status, filters.rollout], opts);
  const devices = new Map<string, FleetDevice>();
  const refused: RefusedMessage[] = [];
  for (const m of messages) {
    const r = applyFleetMessage(devices, parseFleetMessage(prefix, m.topic, m.payload));
    if (r) refused.push(r);
  }
  return { devices, refused };
}

/** The version of model `name` a device reports serving, with its manifest counter. */
export function servingOf(device: FleetDevice | undefined, name: string): { name: string; version: string; counter: number } | undefined {
  return device?.report?.serving.find((m) => m.name === name);
}
