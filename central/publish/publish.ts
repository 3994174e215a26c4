import { AgentError } from '../../agent/errors.js';
import type { ModelManifest } from '../../protocol/manifest.js';
import type { TrustStore } from '../../protocol/signing.js';
import { artifactChunkCount, artifactChunkTopic, manifestTopic } from '../../protocol/topics.js';
import type { ModelBundle } from '../bundle/read.js';
import type { BrokerClient } from '../rollout/connection.js';
import { readPublishedManifests } from '../rollout/manifests.js';
import { publishArtifactChunks } from './artifact-chunks.js';

/*
 * Publishing makes a packed bundle available to the fleet: the artifacts first (when they
 * travel over MQTT), the signed manifest last, so that an agent that sees the manifest
 * finds every chunk it names already retained. Nothing is changed in the manifest: its
 * URLs are signed, so they are decided at pack time.
 */

export type Via = 'http' | 'mqtt' | 'both';

/** How the artifacts will reach agents, and what the operator must hear about it. */
export interface DeliveryPlan {
  via: Via;
  warnings: string[];
}

/**
 * Decides the delivery: `via` as asked, or by default over HTTP when every artifact has
 * URLs and over MQTT otherwise. Refuses a combination that would leave agents with no way
 * to fetch the model.
 */
export function deliveryPlan(manifest: ModelManifest, via: Via | undefined, urlBase: string | undefined): DeliveryPlan {
  const withoutUrls = manifest.artifacts.filter((a) => a.urls.length === 0).map((a) => a.path);
  if (urlBase !== undefined && withoutUrls.length > 0) {
    throw new AgentError(
      'E_PUBLISH_URLS',
      `the manifest of ${manifest.name} ${manifest.version} lists no download URL for ${withoutUrls.join(', ')}; URLs are part of the SIGNED manifest, so they are set when packing (edgectl pack --url-base ${urlBase}), not when publishing`,
    );
  }
  const chosen = via ?? (withoutUrls.length === 0 ? 'http' : 'mqtt');
  if (chosen === 'http' && withoutUrls.length > 0) {
    throw new AgentError('E_PUBLISH_URLS', `--via http, but the manifest lists no download URL for ${withoutUrls.join(', ')}: agents could not fetch it; use --via mqtt, or pack it again with --url-base`);
  }
  const warnings: string[] = [];
  if (urlBase !== undefined) {
    const base = urlBase.replace(/\/+$/, '');
    const elsewhere = manifest.artifacts.flatMap((a) => a.urls).filter((u) => !u.startsWith(`${base}/`));
    if (elsewhere.length > 0) warnings.push(`the signed manifest's URLs are not under --url-base ${urlBase}: ${elsewhere.join(', ')}; agents use the manifest's`);
  }
  return { via: chosen, warnings };
}

export interface PublishOptions {
  client: BrokerClient;
  prefix: string;
  bundle: ModelBundle;
  via: Via;
  trust: TrustStore;
  /** Replace a different manifest already retained for the same name and version. */
  replace?: boolean;
  progress: (line: string) => void;
  warn: (line: string) => void;
}

/** What went onto the broker. */
export interface PublishResult {
  manifestTopic: string;
  /** Retained chunks per artifact, when sent over MQTT. */
  chunks: Array<{ path: string; sha256: string; count: number; first: string; last: string }>;
  /** The manifest's download URLs per artifact, when sent over HTTP. */
  urls: Array<{ path: string; urls: string[] }>;
  /** The same manifest was retained already. */
  republished: boolean;
}

/** Publishes a verified bundle: its artifacts as chunks (for mqtt and both), then its manifest, all retained QoS 1. */
export async function publishBundle(opts: PublishOptions): Promise<PublishResult> {
  const { client, prefix, bundle } = opts;
  const m = bundle.manifest;
  const topic = manifestTopic(prefix, m.name, m.version);
  const published = await readPublishedManifests(client, prefix, m.name, opts.trust);
  for (const r of published.refused) opts.warn(`refused the retained manifest on ${r.topic}: ${r.reason}`);
  const same = published.manifests.find((p) => p.manifest.version === m.version);
  const republished = same !== undefined && same.bytes.equals(bundle.manifestBytes);
  if (same && !republished) {
    const differs = same.manifest.counter !== m.counter ? `counter ${same.manifest.counter}` : 'different content';
    if (!opts.replace) {
      throw new AgentError('E_PUBLISH_VERSION_TAKEN', `${m.name} ${m.version} is already published with ${differs} on ${topic}; a version is published once (pack a new version, or --replace if agents have not taken it yet)`);
    }
    opts.warn(`replacing the manifest of ${m.name} ${m.version} published with ${differs}`);
  }
  const higher = published.manifests.filter((p) => p.manifest.version !== m.version && p.manifest.counter >= m.counter);
  if (higher.length > 0) {
    const list = higher.map((p) => `${p.manifest.version} (counter ${p.manifest.counter})`).join(', ');
    opts.warn(`counter ${m.counter} is not above ${list}: agents that took those refuse this manifest as a replay unless a rollback names it`);
  }

  const result: PublishResult = { manifestTopic: topic, chunks: [], urls: [], republished };
  if (opts.via !== 'http') {
    for (const a of bundle.artifacts) {
      const count = await publishArtifactChunks(client, prefix, a, opts.progress);
      result.chunks.push({ path: a.path, sha256: a.sha256, count, first: artifactChunkTopic(prefix, a.sha256, 0), last: artifactChunkTopic(prefix, a.sha256, artifactChunkCount(a.bytes) - 1) });
    }
  }
  if (opts.via !== 'mqtt') for (const a of m.artifacts) result.urls.push({ path: a.path, urls: a.urls });
  // The bytes as signed and stored: re-serialising could only lose something.
  await client.publishRetained(topic, bundle.manifestBytes);
  return result;
}
