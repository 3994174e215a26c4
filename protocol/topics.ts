/** Default first levels of every topic; one broker can serve several fleets by changing it. */
export const DEFAULT_TOPIC_PREFIX = 'edge/v1';

/** A device id must be usable as one MQTT topic level and as a file name. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The topics one device publishes to. */
export interface DeviceTopics {
  predictions: string;
  status: string;
  events: string;
  /** Retained RolloutReport: the device's latest step in bringing in a model. */
  rollout: string;
}

/** Topics for one device under a prefix. */
export function deviceTopics(prefix: string, deviceId: string): DeviceTopics {
  const base = `${prefix}/${deviceId}`;
  return {
    predictions: `${base}/predictions`,
    status: `${base}/status`,
    events: `${base}/events`,
    rollout: `${base}/rollout`,
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

/*
 * Model rollout topics sit beside the device topics under the same prefix. Their first
 * level is one of these words, so a device must not be named like one: its topics would
 * match the rollout filters and the other way round.
 */
export const RESERVED_TOPIC_LEVELS: readonly string[] = ['models', 'artifacts', 'desired', 'rollouts'];

/** Bytes of every artifact chunk published over MQTT but the last, which holds the rest. */
export const ARTIFACT_CHUNK_BYTES = 256 * 1024;

/** Largest artifact chunk an agent accepts, checked before anything else; equal to the chunk size. */
export const ARTIFACT_CHUNK_MAX_BYTES = ARTIFACT_CHUNK_BYTES;

/** Retained signed manifest of one model version (name and version are single topic levels; versions carry no +build). */
export function manifestTopic(prefix: string, name: string, version: string): string {
  return `${prefix}/models/${name}/${version}/manifest`;
}

/** Chunk `index` (0-based) of the artifact with this sha256, raw bytes, ARTIFACT_CHUNK_BYTES each but the last. */
export function artifactChunkTopic(prefix: string, sha256: string, index: number): string {
  return `${prefix}/artifacts/${sha256}/${index}`;
}

/** How many chunks an artifact of `bytes` bytes is published as. */
export function artifactChunkCount(bytes: number): number {
  return Math.ceil(bytes / ARTIFACT_CHUNK_BYTES);
}

/** Retained signed DesiredState for one device, group or site. */
export function desiredStateTopic(prefix: string, kind: 'device' | 'group' | 'site', id: string): string {
  return `${prefix}/desired/${kind}/${id}`;
}

/** The desired-state topics a device subscribes to: its own, its group's (when it has one) and its site's. */
export function desiredStateTopicsOf(prefix: string, device: { id: string; group?: string; site: string }): string[] {
  const topics = [desiredStateTopic(prefix, 'device', device.id)];
  if (device.group !== undefined) topics.push(desiredStateTopic(prefix, 'group', device.group));
  topics.push(desiredStateTopic(prefix, 'site', device.site));
  return topics;
}

/** Retained progress of one rollout, published by central's rollout controller. */
export function rolloutControllerTopic(prefix: string, rolloutId: string): string {
  return `${prefix}/rollouts/${rolloutId}`;
}
