import { createPublicKey } from 'node:crypto';
import { access, mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type ModelConfig, ModelSchema } from '../../agent/config/schema.js';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { Classifier } from '../../agent/inference/classifier.js';
import { ModelSession } from '../../agent/inference/model-session.js';
import { ImagePreprocessor } from '../../agent/preprocess/image.js';
import { AGENT_VERSION } from '../../agent/version.js';
import { ARCHES, MANIFEST_MAX_BYTES, MODEL_NAME_PATTERN, ModelManifest, ModelVersionSchema, type ModelManifestInput } from '../../protocol/manifest.js';
import { formatIssues } from '../../protocol/parse.js';
import { signEnvelope, verifyEnvelope, type SignedEnvelope, type Signer } from '../../protocol/signing.js';
import { copyWithDigest, type FileDigest, type ProgressSink } from './artifact-file.js';
import { computeGoldens, DEFAULT_GOLDEN_TOLERANCE, FLOAT16_GOLDEN_TOLERANCE, readGoldenImages } from './goldens.js';
import { BUNDLE_MANIFEST, BUNDLE_MODEL } from './layout.js';
import { resolveLineage, type LineageFlags } from './lineage.js';
import { profileImages } from './reference.js';
import { describeModel, type ModelInterface } from './model-probe.js';
import { readModelSettings, type LoadedSettings } from './settings.js';

export const DEFAULT_EXPIRES_IN_MS = 90 * 24 * 3600_000;

export interface PackOptions {
  modelFile: string;
  name: string;
  version: string;
  counter: number;
  /** YAML with the models[] entry's input, preprocess, output, labels or labelsFile. */
  settingsFile: string;
  signer: Signer;
  outDir: string;
  goldenFiles?: readonly string[];
  /** Reference images the drift profile is measured on (`--reference DIR`); no profile when absent. */
  referenceFiles?: readonly string[];
  /** Artifacts are listed at `${urlBase}/model.onnx`; no URLs (MQTT delivery) when absent. */
  urlBase?: string;
  expiresInMs?: number;
  arch?: ReadonlyArray<(typeof ARCHES)[number]>;
  task?: ModelManifest['task'];
  /** Default: this edgectl's version, since the goldens were computed by this version's agent code. */
  minAgentVersion?: string;
  /** Overrides the golden tolerance chosen from the model's dtypes. */
  tolerance?: number;
  packedBy?: string;
  notes?: string;
  /** Lineage given on the command line, over the settings file's `lineage`. */
  lineage?: LineageFlags;
  now?: () => number;
  progress?: ProgressSink;
}

export interface PackResult {
  dir: string;
  manifestFile: string;
  modelFile: string;
  manifest: ModelManifest;
  envelope: SignedEnvelope<ModelManifest>;
  /** Things worth a look that do not stop the pack (labels that do not match the output, ...). */
  warnings: string[];
}

/**
 * Packs one ONNX model into a signed bundle folder: model.onnx (copied, hashed while
 * copied) and manifest.json (the signed envelope). The model is loaded from the copy, so
 * the bytes that were tested against the settings and produced the goldens are exactly
 * the bytes the manifest names. Nothing is left behind when any step fails.
 */
export async function packModel(opts: PackOptions): Promise<PackResult> {
  checkIdentity(opts);
  const now = opts.now ?? Date.now;
  const say = opts.progress ?? (() => undefined);
  const loaded = await readModelSettings(opts.settingsFile, opts.name);
  const images = await readGoldenImages(opts.goldenFiles ?? []);
  // Before the model is copied: a dataset file that cannot be hashed is a cheap refusal.
  const packedAt = now();
  const lineage = await resolveLineage(loaded.settings.lineage, opts.lineage ?? {}, dirname(resolve(opts.settingsFile)), { by: opts.packedBy ?? packer(), at: new Date(packedAt).toISOString() }, say);
  const dir = resolve(opts.outDir);
  const manifestFile = join(dir, BUNDLE_MANIFEST);
  const modelFile = join(dir, BUNDLE_MODEL);
  const created = await prepareDir(dir, [manifestFile, modelFile]);

  const partialModel = `${modelFile}.partial`;
  const partialManifest = `${manifestFile}.partial`;
  try {
    const digest = await copyWithDigest(opts.modelFile, partialModel, BUNDLE_MODEL, say);
    const graph = await describeModel(partialModel, opts.modelFile);
    const { outputName, goldens, scoresLength, tolerance } = await runAgentCode(opts, loaded, partialModel, images);
    if (images.length > 0) say(`goldens: ${images.length} image${images.length > 1 ? 's' : ''} scored, tolerance ${tolerance}`);
    const profile = opts.referenceFiles && opts.referenceFiles.length > 0 ? await profileImages(agentConfigOf(opts, loaded, partialModel), opts.referenceFiles, say) : null;

    const manifest = { ...buildManifest(opts, loaded, graph, digest, outputName, goldens, packedAt), referenceProfile: profile, lineage };
    const envelope = signEnvelope(manifest, opts.signer);
    // A manifest its own key cannot verify must never leave the packer.
    const self = verifyEnvelope(envelope, new Map([[opts.signer.keyId, createPublicKey(opts.signer.privateKey)]]));
    if (!self.ok) throw new AgentError('E_PACK_SIGN', `the signed manifest does not verify with its own key: ${self.reason}`);
    const text = manifestText(envelope);
    const size = Buffer.byteLength(text);
    if (size > MANIFEST_MAX_BYTES) {
      throw new AgentError('E_MANIFEST_SIZE', `the manifest is ${size} bytes; agents accept at most ${MANIFEST_MAX_BYTES} (use fewer or smaller golden images)`);
    }
    await writeFile(partialManifest, text, { flag: 'wx' });
    // The model first: a manifest.json present means the bundle is complete.
    await rename(partialModel, modelFile);
    await rename(partialManifest, manifestFile);
    return { dir, manifestFile, modelFile, manifest, envelope, warnings: labelWarnings(loaded.labels, scoresLength ?? classCount(graph, outputName)) };
  } catch (err) {
    await Promise.all([partialModel, partialManifest].map((f) => rm(f, { force: true })));
    // Only a folder this pack created, and only while empty: rmdir refuses anything else.
    if (created) await rmdir(dir).catch(() => undefined);
    throw err;
  }
}

/** Loads the copy with the agent's ModelSession (which checks it fits the settings) and scores the goldens with it. */
async function runAgentCode(opts: PackOptions, loaded: LoadedSettings, path: string, images: Awaited<ReturnType<typeof readGoldenImages>>) {
  const { settings, labels } = loaded;
  const config = agentConfigOf(opts, loaded, path);
  let session: ModelSession;
  try {
    session = await ModelSession.load(config, { baseDir: '.' });
  } catch (err) {
    // Name the operator's file, not the partial copy being tested.
    throw new AgentError(err instanceof AgentError ? err.code : 'E_MODEL_LOAD', errorMessage(err).split(path).join(opts.modelFile), { cause: err });
  }
  try {
    const float16 = session.outputType === 'float16' || settings.preprocess.dtype === 'float16';
    const tolerance = opts.tolerance ?? (float16 ? FLOAT16_GOLDEN_TOLERANCE : DEFAULT_GOLDEN_TOLERANCE);
    const preprocessor = new ImagePreprocessor(settings.preprocess);
    const goldens = await computeGoldens(images, { preprocessor, session, classifier: new Classifier(settings.output, labels) }, tolerance);
    return { outputName: session.outputName, goldens, scoresLength: goldens[0]?.expected.length, tolerance };
  } finally {
    await session.release();
  }
}

/** The agent-config entry the packed model would have: what pack runs the agent's code with. */
function agentConfigOf(opts: PackOptions, loaded: LoadedSettings, path: string): ModelConfig {
  const { settings, labels } = loaded;
  return ModelSchema.parse({ name: opts.name, version: opts.version, path, input: settings.input, labels, preprocess: settings.preprocess, output: settings.output });
}

function buildManifest(
  opts: PackOptions,
  loaded: LoadedSettings,
  graph: ModelInterface,
  digest: FileDigest,
  outputName: string,
  goldens: ModelManifestInput['goldens'],
  nowMs: number,
): ModelManifest {
  const { softmax, topK } = loaded.settings.output;
  const urls = opts.urlBase === undefined ? [] : [`${opts.urlBase.replace(/\/+$/, '')}/${BUNDLE_MODEL}`];
  const input: ModelManifestInput = {
    v: 1,
    name: opts.name,
    version: opts.version,
    counter: opts.counter,
    createdAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + (opts.expiresInMs ?? DEFAULT_EXPIRES_IN_MS)).toISOString(),
    task: opts.task ?? 'classification',
    inputs: graph.inputs,
    outputs: graph.outputs,
    preprocess: loaded.settings.preprocess,
    // The tensor the agent's ModelSession chose, written out so a gateway cannot choose another.
    output: { tensor: outputName, softmax, topK },
    labels: loaded.labels,
    artifacts: [{ role: 'model', path: BUNDLE_MODEL, sha256: digest.sha256, bytes: digest.bytes, urls }],
    referenceProfile: null,
    goldens,
    explain: { enabled: false },
    minAgentVersion: opts.minAgentVersion ?? AGENT_VERSION,
    arch: [...(opts.arch ?? ARCHES)],
    packedBy: opts.packedBy ?? packer(),
    notes: opts.notes,
  };
  const parsed = ModelManifest.safeParse(input);
  if (!parsed.success) throw new AgentError('E_MANIFEST', `the manifest would be invalid: ${formatIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** Cheap refusals first, before a large model is copied. */
function checkIdentity(opts: PackOptions): void {
  const problems: string[] = [];
  if (!MODEL_NAME_PATTERN.test(opts.name)) problems.push(`name "${opts.name}": letters, digits, . _ - only (at most 64), starting with a letter or digit`);
  const version = ModelVersionSchema.safeParse(opts.version);
  if (!version.success) problems.push(`version "${opts.version}": ${version.error.issues[0]?.message ?? 'invalid'}`);
  if (!Number.isSafeInteger(opts.counter) || opts.counter < 1) problems.push(`counter ${opts.counter}: a positive whole number`);
  if (opts.expiresInMs !== undefined && !(opts.expiresInMs > 0)) problems.push('the manifest must expire after it is created');
  if (opts.urlBase !== undefined && !/^https?:\/\/[^/]/.test(opts.urlBase)) problems.push(`url base "${opts.urlBase}": an http:// or https:// URL`);
  if (opts.arch !== undefined && opts.arch.length === 0) problems.push('arch: at least one architecture');
  if (problems.length > 0) throw new AgentError('E_PACK_ARGS', problems.join('; '));
}

/** Creates dir if needed (true when this call created it) and refuses one that already holds a bundle. */
async function prepareDir(dir: string, finals: string[]): Promise<boolean> {
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new AgentError('E_BUNDLE_WRITE', `cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  for (const file of finals) {
    const present = await access(file).then(
      () => true,
      () => false,
    );
    // A signed bundle may already be published; a new pack goes into a new folder.
    if (present) throw new AgentError('E_BUNDLE_EXISTS', `${file} already exists; pack into an empty folder`);
  }
  return created !== undefined;
}

/**
 * Pretty-printed for people, with arrays of numbers (scores, shapes, mean/std) kept on one
 * line: a 1000-class golden would otherwise take 1000 lines and four times the bytes.
 * Layout is free to choose because the signature covers the canonical form, not this text.
 */
function manifestText(envelope: SignedEnvelope<ModelManifest>): string {
  const pretty = JSON.stringify(envelope, null, 2);
  return `${pretty.replace(/\[\n\s*(-?[\d.e+-]+(?:,\n\s*-?[\d.e+-]+)*)\n\s*\]/g, (_, items: string) => `[${items.split(/,\n\s*/).join(', ')}]`)}\n`;
}

function classCount(graph: ModelInterface, outputName: string): number | undefined {
  const shape = graph.outputs.find((o) => o.name === outputName)?.shape;
  if (!shape || shape.some((d) => typeof d !== 'number' || d < 0)) return undefined;
  return (shape as number[]).reduce((a, b) => a * b, 1);
}

function labelWarnings(labels: string[] | undefined, classes: number | undefined): string[] {
  if (labels === undefined) return ['no labels: predictions will name classes by their index'];
  if (classes !== undefined && labels.length !== classes) return [`${labels.length} labels for ${classes} scores: check the labels match the model`];
  return [];
}

function packer(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    // No passwd entry (a container running as an arbitrary uid).
    return hostname();
  }
}
