import type { Logger } from 'pino';
import { LabelCommand, labelCommandTopic, MAX_LABEL_COMMAND_BYTES } from '../../protocol/feedback.js';
import { parsePayload } from '../../protocol/parse.js';
import { errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import type { Feedback } from './feedback.js';

/**
 * Hears label commands on `<prefix>/<device>/cmd/label` (behind the sync's size and rate
 * guard): each is checked against its schema, and a refusal is an audit event naming why.
 */
export function listenForLabels(o: {
  channel: { subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): void };
  topicPrefix: string;
  deviceId: string;
  feedback: Feedback;
  events: EventSink;
  log: Logger;
}): void {
  const topic = labelCommandTopic(o.topicPrefix, o.deviceId);
  o.channel.subscribe(topic, (_topic, payload) => {
    const parsed = parsePayload(LabelCommand, payload, MAX_LABEL_COMMAND_BYTES);
    if (!parsed.ok) return refuse(`label command refused: ${parsed.reason}`);
    const cmd = parsed.value;
    try {
      o.feedback.label({ seq: cmd.seq, label: cmd.label, by: cmd.by, ts: cmd.ts });
    } catch (err) {
      refuse(`label for prediction ${cmd.seq} refused: ${errorMessage(err)}`);
    }
  });

  function refuse(message: string): void {
    o.log.warn({ topic }, message);
    o.events.record({ level: 'warn', kind: 'label_refused', source: 'feedback', message, detail: { topic } });
  }
}
