import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { compareSemver, MANIFEST_MAX_BYTES, ModelManifest } from '../../protocol/manifest.js';
import { formatIssues, parsePayload } from '../../protocol/parse.js';
import { openSigned } from '../../protocol/signed-message.js';
import type { TrustStore } from '../../protocol/signing.js';
import { manifestTopic } from '../../protocol/topics.js';
import { BUNDLE_MANIFEST } from '../bundle/layout.js';
import type { BrokerClient } from '../rollout/connection.js';

/*
 * What the registry holds: the signed manifests central published (retained on the
 * broker), or the bundle folders under a directory (what `edgectl serve --dir` serves).
 * With keys, a manifest is verified the way an agent would and one that fails is listed
 * as refused; without keys, the manifests are read for display and marked unverified.
 */

/** One manifest the registry holds. */
export interface RegistryEntry {
  manifest: ModelManifest;
  /** The bundle folder (relative to the registry directory) or the retained topic. */
  where: string;
  /** Trusted key ids that signed it; undefined when no keys were given to verify with. */
  signedBy: string[] | undefined;
}

/** A manifest that could not be used, and why. */
export interface RegistryRefusal {
  where: string;
  reason: string;
}

export interface RegistryListing {
  /** By name, then highest version first. */
  entries: RegistryEntry[];
  refused: RegistryRefusal[];
}

/** Bundle folders are looked for this deep under the registry directory. */
const MAX_DEPTH = 3;

/** Every bundle folder under dir (dir itself, and folders up to three levels below it). */
export async function readRegistryDir(dir: string, trust: TrustStore | undefined): Promise<RegistryListing> {
  const found: RegistryListing = { entries: [], refused: [] };
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a folder');
  } catch (err) {
    throw new AgentError('E_REGISTRY_READ', `registry ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : errorMessage(err)}`);
  }
  await walk(dir, dir, 0, trust, found);
  return sorted(found);
}

async function walk(root: string, dir: string, depth: number, trust: TrustStore | undefined, out: RegistryListing): Promise<void> {
  const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
  if (names.some((d) => d.isFile() && d.name === BUNDLE_MANIFEST)) {
    const where = relative(root, dir) || '.';
    const file = join(dir, BUNDLE_MANIFEST);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      out.refused.push({ where, reason: `cannot read ${BUNDLE_MANIFEST}: ${errorMessage(err)}` });
      return;
    }
    const opened = openManifest(bytes, trust);
    if ('reason' in opened) out.refused.push({ where, reason: opened.reason });
    else out.entries.push({ ...opened, where });
    return;
  }
  if (depth >= MAX_DEPTH) return;
  for (const d of names.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (d.isDirectory() && !d.name.startsWith('.')) await walk(root, join(dir, d.name), depth + 1, trust, out);
  }
}

/** Every manifest retained under prefix/models/+/+/manifest. */
export async function readRegistryBroker(client: BrokerClient, prefix: string, trust: TrustStore | undefined): Promise<RegistryListing> {
  const found: RegistryListing = { entries: [], refused: [] };
  for (const m of await client.readRetained([`${prefix}/models/+/+/manifest`])) {
    const opened = openManifest(m.payload, trust);
    if ('reason' in opened) found.refused.push({ where: m.topic, reason: opened.reason });
    // A manifest moved to another topic must not stand in for the version the topic names.
    else if (manifestTopic(prefix, opened.manifest.name, opened.manifest.version) !== m.topic) found.refused.push({ where: m.topic, reason: `holds the manifest of ${opened.manifest.name} ${opened.manifest.version}` });
    else found.entries.push({ ...opened, where: m.topic });
  }
  return sorted(found);
}

/** The entry of name@version; throws E_MODEL_NOT_FOUND listing the versions there are. */
export function findEntry(listing: RegistryListing, name: string, version: string): RegistryEntry {
  const hits = listing.entries.filter((e) => e.manifest.name === name && e.manifest.version === version);
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new AgentError('E_MODEL_AMBIGUOUS', `${name}@${version} is held ${hits.length} times (${hits.map((h) => h.where).join(', ')})`);
  const versions = listing.entries.filter((e) => e.manifest.name === name).map((e) => e.manifest.version);
  const refused = listing.refused.length ? `; ${listing.refused.length} manifest(s) refused, see edgectl models list` : '';
  throw new AgentError('E_MODEL_NOT_FOUND', `the registry holds no ${name}@${version} (versions of ${name}: ${versions.join(', ') || 'none'})${refused}`);
}

function openManifest(bytes: Buffer, trust: TrustStore | undefined): { manifest: ModelManifest; signedBy: string[] | undefined } | { reason: string } {
  if (trust) {
    const opened = openSigned(ModelManifest, bytes, trust, { maxBytes: MANIFEST_MAX_BYTES });
    return opened.ok ? { manifest: opened.value, signedBy: opened.keyIds } : { reason: `${opened.code}: ${opened.reason}` };
  }
  const envelope = parsePayload(EnvelopeShape, bytes, MANIFEST_MAX_BYTES);
  if (!envelope.ok) return { reason: envelope.reason };
  const parsed = ModelManifest.safeParse(envelope.value.payload);
  return parsed.success ? { manifest: parsed.data, signedBy: undefined } : { reason: `E_SCHEMA: ${formatIssues(parsed.error.issues)}` };
}

/** Without keys the signatures are not looked at, only the payload. */
const EnvelopeShape = z.object({ payload: z.unknown() });

function sorted(l: RegistryListing): RegistryListing {
  l.entries.sort((a, b) => (a.manifest.name < b.manifest.name ? -1 : a.manifest.name > b.manifest.name ? 1 : compareSemver(b.manifest.version, a.manifest.version)));
  return l;
}
