import type { Logger } from 'pino';
import { CAPTURE_COMMAND_MAX_BYTES, CaptureCommand, captureCommandTopic } from '../../../protocol/capture.js';
import { parsePayload } from '../../../protocol/parse.js';
import type { Clock } from '../../clock.js';
import type { EventSink } from '../../events.js';
import { recordEvent } from './folder-filing.js';
import type { CaptureTarget } from './trigger.js';

export interface CaptureCommandsOptions {
  /** The MQTT link; the handler is kept across sessions. */
  channel: { subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): void };
  topicPrefix: string;
  deviceId: string;
  /** Triggered cameras by source id. */
  cameras: ReadonlyMap<string, CaptureTarget>;
  events: EventSink;
  clock: Clock;
  log: Logger;
}

/**
 * Hears capture commands for this device over MQTT: each valid one makes the named
 * triggered camera take one picture. A command that is not valid, or names no triggered
 * camera, is refused with a `capture_refused` event saying why, and nothing is taken.
 */
export function listenForCaptureCommands(o: CaptureCommandsOptions): string {
  const topic = captureCommandTopic(o.topicPrefix, o.deviceId);
  o.channel.subscribe(topic, (_topic, payload) => {
    const parsed = parsePayload(CaptureCommand, payload, CAPTURE_COMMAND_MAX_BYTES);
    const camera = parsed.ok ? o.cameras.get(parsed.value.camera) : undefined;
    if (!parsed.ok || !camera) {
      const reason = parsed.ok ? `no triggered camera "${parsed.value.camera}" (mode: triggered)` : parsed.reason;
      recordEvent(o.events, o.log, { level: 'warn', kind: 'capture_refused', message: `capture command refused: ${reason}`, detail: { topic, reason } });
      return;
    }
    const { partId } = parsed.value;
    o.log.debug({ camera: parsed.value.camera, partId }, 'capture commanded');
    camera.capture({ ts: o.clock.now(), ...(partId === undefined ? {} : { partId }) });
  });
  return topic;
}
