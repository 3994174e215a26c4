import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { AgentError } from '../../agent/errors.js';
import { ARTIFACT_CHUNK_BYTES, artifactChunkCount, artifactChunkTopic } from '../../protocol/topics.js';
import type { BrokerClient } from '../rollout/connection.js';

/*
 * An artifact over MQTT: raw bytes, ARTIFACT_CHUNK_BYTES per retained message, keyed by
 * the artifact's sha256. Retained, so an agent that lost its connection halfway
 * subscribes again and takes only the chunks it is missing; keyed by content, so two
 * versions sharing a file share its chunks.
 */

/** The bundle file behind one manifest artifact. */
export interface ChunkSource {
  file: string;
  path: string;
  sha256: string;
  bytes: number;
}

/** Publishes every chunk (retained, QoS 1, one at a time so memory stays at one chunk); `progress` gets a line per 10%. */
export async function publishArtifactChunks(client: BrokerClient, prefix: string, artifact: ChunkSource, progress: (line: string) => void): Promise<number> {
  const count = artifactChunkCount(artifact.bytes);
  const hash = createHash('sha256');
  const handle = await open(artifact.file, 'r');
  let decile = 0;
  try {
    for (let i = 0; i < count; i++) {
      const length = Math.min(ARTIFACT_CHUNK_BYTES, artifact.bytes - i * ARTIFACT_CHUNK_BYTES);
      // A fresh buffer per chunk: MQTT.js may still hold the previous one until it is written out.
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await handle.read(chunk, 0, length, i * ARTIFACT_CHUNK_BYTES);
      if (bytesRead !== length) throw new AgentError('E_ARTIFACT_MISMATCH', `${artifact.file} became shorter while it was published (chunk ${i})`);
      hash.update(chunk);
      await client.publishRetained(artifactChunkTopic(prefix, artifact.sha256, i), chunk);
      const reached = Math.floor(((i + 1) * 10) / count);
      if (reached > decile) {
        decile = reached;
        progress(`${artifact.path}: ${decile * 10}% (${i + 1}/${count} chunk${count > 1 ? 's' : ''})`);
      }
    }
  } finally {
    await handle.close();
  }
  const digest = hash.digest('hex');
  if (digest !== artifact.sha256) {
    // The file changed after it was verified: take the wrong bytes back off the broker.
    for (let i = 0; i < count; i++) await client.publishRetained(artifactChunkTopic(prefix, artifact.sha256, i), Buffer.alloc(0));
    throw new AgentError('E_ARTIFACT_MISMATCH', `${artifact.file} changed while it was published (sha256 ${digest}, the manifest says ${artifact.sha256}); its chunks were removed again`);
  }
  return count;
}
