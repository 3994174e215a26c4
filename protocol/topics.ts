/** Default first levels of every topic; one broker can serve several fleets by changing it. */
export const DEFAULT_TOPIC_PREFIX = 'edge/v1';

/** A device id must be usable as one MQTT topic level and as a file name. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The topics one device publishes to. */
export interface DeviceTopics {
  predictions: string;
  status: string;
  events: string;
}

/** Topics for one device under a prefix. */
export function deviceTopics(prefix: string, deviceId: string): DeviceTopics {
  const base = `${prefix}/${deviceId}`;
  return {
    predictions: `${base}/predictions`,
    status: `${base}/status`,
    events: `${base}/events`,
  };
}

/** Subscription filters central uses to hear every device. */
export function fleetFilters(prefix: string): DeviceTopics {
  return deviceTopics(prefix, '+');
}

/** The device id in a topic under `prefix`, or undefined when the topic is not a device topic. */
export function deviceOfTopic(prefix: string, topic: string): string | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const id = topic.slice(prefix.length + 1).split('/')[0];
  return id !== undefined && DEVICE_ID_PATTERN.test(id) ? id : undefined;
}
