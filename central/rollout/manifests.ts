import { AgentError } from '../../agent/errors.js';
import { compareSemver, MANIFEST_MAX_BYTES, ModelManifest } from '../../protocol/manifest.js';
import { openSigned } from '../../protocol/signed-message.js';
import type { TrustStore } from '../../protocol/signing.js';
import { manifestTopic } from '../../protocol/topics.js';
import type { RefusedMessage } from '../fleet/fleet-state.js';
import type { BrokerClient } from './connection.js';

/*
 * The signed manifests the broker retains, read back and verified the way an agent would:
 * a desired state must name a manifest counter agents can actually find and trust, so
 * central takes counters from the broker's copy, not from anyone's memory.
 */

/** A retained manifest that verified, with the bytes as retained. */
export interface PublishedManifest {
  topic: string;
  manifest: ModelManifest;
  bytes: Buffer;
}

export interface PublishedManifests {
  /** Highest version first. */
  manifests: PublishedManifest[];
  refused: RefusedMessage[];
}

/** Every verified manifest of model `name` retained under prefix. */
export async function readPublishedManifests(client: BrokerClient, prefix: string, name: string, trust: TrustStore): Promise<PublishedManifests> {
  const messages = await client.readRetained([`${prefix}/models/${name}/+/manifest`]);
  const manifests: PublishedManifest[] = [];
  const refused: RefusedMessage[] = [];
  for (const m of messages) {
    const checked = checkPublished(m.topic, m.payload, trust, prefix);
    if ('reason' in checked) refused.push(checked);
    else manifests.push(checked);
  }
  manifests.sort((a, b) => compareSemver(b.manifest.version, a.manifest.version));
  return { manifests, refused };
}

/** The verified manifest of name@version on the broker; throws E_MANIFEST_NOT_PUBLISHED or the verification's code. */
export async function readPublishedManifest(client: BrokerClient, prefix: string, name: string, version: string, trust: TrustStore): Promise<PublishedManifest> {
  const topic = manifestTopic(prefix, name, version);
  const payload = await client.readOne(topic);
  if (payload === undefined) {
    throw new AgentError('E_MANIFEST_NOT_PUBLISHED', `no manifest of ${name} ${version} is retained on ${topic}; publish its bundle first (edgectl publish --bundle DIR)`);
  }
  const checked = checkPublished(topic, payload, trust, prefix);
  if ('reason' in checked) throw new AgentError('E_MANIFEST_UNTRUSTED', `the manifest retained on ${topic} is refused: ${checked.reason}`);
  return checked;
}

/** The highest published version below `version`: what "the previous version" means for a rollback. */
export function previousVersion(published: readonly PublishedManifest[], version: string): PublishedManifest | undefined {
  return published.find((p) => compareSemver(p.manifest.version, version) < 0);
}

function checkPublished(topic: string, payload: Buffer, trust: TrustStore, prefix: string): PublishedManifest | RefusedMessage {
  const opened = openSigned(ModelManifest, payload, trust, { maxBytes: MANIFEST_MAX_BYTES });
  if (!opened.ok) return { topic, reason: `${opened.code}: ${opened.reason}` };
  const m = opened.value;
  // A manifest moved to another topic must not stand in for the version the topic names.
  if (manifestTopic(prefix, m.name, m.version) !== topic) return { topic, reason: `holds the manifest of ${m.name} ${m.version}` };
  return { topic, manifest: m, bytes: payload };
}
