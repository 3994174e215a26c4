import { readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { MANIFEST_MAX_BYTES, ModelManifest, type Artifact } from '../../protocol/manifest.js';
import { openSigned } from '../../protocol/signed-message.js';
import type { TrustStore } from '../../protocol/signing.js';
import { digestFile, type ProgressSink } from './artifact-file.js';
import { BUNDLE_MANIFEST } from './layout.js';

/** An artifact of a bundle and the file on disk that holds it. */
export type BundleArtifact = Artifact & { file: string };

/** A bundle folder whose manifest verified and whose files match it. */
export interface ModelBundle {
  dir: string;
  manifestFile: string;
  /** The manifest file's bytes, exactly as signed and stored: what publish sends. */
  manifestBytes: Buffer;
  manifest: ModelManifest;
  keyIds: string[];
  unknownKeyIds: string[];
  artifacts: BundleArtifact[];
}

export interface ReadBundleOptions {
  minSignatures?: number;
  /** Re-hash every artifact against the manifest (default true); false checks only that each file exists with its length. */
  hash?: boolean;
  progress?: ProgressSink;
}

/**
 * Reads a bundle folder written by `edgectl pack`: verifies manifest.json against trust
 * and the manifest schema, and each artifact's length and sha256 against the manifest.
 * Does not check expiry: whether an expired bundle may still be served is the caller's call.
 * Throws AgentError with the protocol's code (E_UNSIGNED, E_BAD_SIGNATURE, E_SCHEMA, ...),
 * E_BUNDLE_READ, or E_ARTIFACT_MISMATCH.
 */
export async function readBundle(dir: string, trust: TrustStore, opts: ReadBundleOptions = {}): Promise<ModelBundle> {
  const root = await realDir(dir);
  const manifestFile = join(root, BUNDLE_MANIFEST);
  const manifestBytes = await readManifest(manifestFile);
  const opened = openSigned(ModelManifest, manifestBytes, trust, { maxBytes: MANIFEST_MAX_BYTES, ...(opts.minSignatures === undefined ? {} : { minSignatures: opts.minSignatures }) });
  if (!opened.ok) throw new AgentError(opened.code, `bundle ${root}: ${opened.reason}`);
  const manifest = opened.value;

  const artifacts: BundleArtifact[] = [];
  for (const artifact of manifest.artifacts) {
    const file = await insideBundle(root, artifact.path);
    const size = (await stat(file)).size;
    if (size !== artifact.bytes) throw new AgentError('E_ARTIFACT_MISMATCH', `bundle ${root}: ${artifact.path} is ${size} bytes, the manifest says ${artifact.bytes}`);
    if (opts.hash !== false) {
      const digest = await digestFile(file, artifact.path, opts.progress);
      if (digest.sha256 !== artifact.sha256) throw new AgentError('E_ARTIFACT_MISMATCH', `bundle ${root}: ${artifact.path} has sha256 ${digest.sha256}, the manifest says ${artifact.sha256}`);
    }
    artifacts.push({ ...artifact, file });
  }
  return { dir: root, manifestFile, manifestBytes, manifest, keyIds: opened.keyIds, unknownKeyIds: opened.unknownKeyIds, artifacts };
}

async function realDir(dir: string): Promise<string> {
  try {
    const real = await realpath(dir);
    if ((await stat(real)).isDirectory()) return real;
  } catch (err) {
    throw new AgentError('E_BUNDLE_READ', `bundle ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such folder' : errorMessage(err)}`, { cause: err });
  }
  throw new AgentError('E_BUNDLE_READ', `bundle ${dir}: not a folder`);
}

async function readManifest(file: string): Promise<Buffer> {
  try {
    // Check the size before reading, so a huge file is refused without being loaded.
    const { size } = await stat(file);
    if (size > MANIFEST_MAX_BYTES) throw new AgentError('E_PAYLOAD', `${file} is ${size} bytes; at most ${MANIFEST_MAX_BYTES}`);
    return await readFile(file);
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError('E_BUNDLE_READ', `${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no manifest (is this a bundle folder?)' : errorMessage(err)}`, { cause: err });
  }
}

/** The artifact's file, refusing one that resolves outside the bundle (a symlink to /etc, say). */
async function insideBundle(root: string, path: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(resolve(root, path));
  } catch (err) {
    throw new AgentError('E_BUNDLE_READ', `bundle ${root}: ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : errorMessage(err)}`, { cause: err });
  }
  if (!real.startsWith(root + sep)) throw new AgentError('E_BUNDLE_READ', `bundle ${root}: ${path} resolves outside the bundle folder`);
  return real;
}
