import mqtt, { type MqttClient } from 'mqtt';
import { topicMatches, type MessageHandler } from '../../agent/sync/subscriptions.js';

/** The subscribe/unsubscribe side of the agent's sync over one MQTT.js client, resubscribing on every reconnect as the sync does. */
export interface ChunkTestChannel {
  subscribe(filter: string, handler: MessageHandler): void;
  unsubscribe(filter: string): void;
  /** Filters currently held. */
  readonly filters: string[];
  close(): Promise<void>;
}

export async function connectChannel(url: string, protocolVersion: 4 | 5): Promise<ChunkTestChannel> {
  const handlers = new Map<string, MessageHandler>();
  const client: MqttClient = await mqtt.connectAsync(url, { protocolVersion, clientId: `chunks-${process.pid}-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 100 });
  client.on('connect', () => handlers.size > 0 && client.subscribe([...handlers.keys()], { qos: 1 }));
  client.on('message', (topic, payload) => {
    for (const [filter, handler] of handlers) if (topicMatches(filter, topic)) handler(topic, payload);
  });
  return {
    subscribe(filter, handler) {
      handlers.set(filter, handler);
      if (client.connected) client.subscribe(filter, { qos: 1 });
    },
    unsubscribe(filter) {
      handlers.delete(filter);
      if (client.connected) client.unsubscribe(filter);
    },
    get filters() {
      return [...handlers.keys()];
    },
    close: () => client.endAsync(true),
  };
}
