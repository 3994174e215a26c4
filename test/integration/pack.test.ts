import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../../agent/config/load.js';
import { ModelSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { AgentError } from '../../agent/errors.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { packModel, type PackOptions } from '../../central/bundle/pack.js';
import { readBundle } from '../../central/bundle/read.js';
import { generateSigningKey } from '../../central/keys/keygen.js';
import { loadSigner } from '../../central/keys/signer.js';
import { ModelManifest } from '../../protocol/manifest.js';
import { trustStoreFrom, verifyEnvelope, type TrustStore } from '../../protocol/signing.js';
import { REPO_ROOT, runBin } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

const PCB_AOI = resolve(REPO_ROOT, '../shared/data/models/pcb-aoi.onnx');
const PART = { width: 320, height: 240, defectRate: 0.5, seed: 7 };
/** With seed 7, part 1 carries a spot and part 2 is clean: one golden of each verdict. */
const GOLDEN_PARTS = [1, 2];

/** A key pair, the defect model, its settings file and two golden images in a fresh folder. */
async function workbench(t: { after(fn: () => unknown): unknown }) {
  const dir = await tempDir(t, 'edge-pack-');
  const key = await generateSigningKey('ops-2025', join(dir, 'keys'));
  const modelPath = await writeDefectModel(dir);
  const entry = defectModelEntry(modelPath);
  const settingsFile = join(dir, 'defect.settings.yaml');
  await writeFile(settingsFile, stringify({ input: entry.input, preprocess: entry.preprocess, output: entry.output, labels: entry.labels }));
  const goldenFiles: string[] = [];
  for (const i of GOLDEN_PARTS) {
    const file = join(dir, `part-${i}.jpg`);
    await writeFile(file, await encodePartJpeg(renderPart(i, PART)));
    goldenFiles.push(file);
  }
  const trusted = trustStoreFrom([{ id: key.keyId, publicKey: await readFile(key.publicKeyFile, 'utf8') }]);
  assert.ok(trusted.ok, trusted.ok ? '' : trusted.reason);
  const options = async (outDir: string): Promise<PackOptions> => ({
    modelFile: modelPath,
    name: 'defect',
    version: '1.4.0',
    counter: 7,
    settingsFile,
    signer: (await loadSigner(key.keyFile)).signer,
    outDir,
    goldenFiles,
    urlBase: 'https://models.example/defect/1.4.0/',
    now: () => Date.parse('2025-03-01T08:00:00Z'),
  });
  return { dir, key, modelPath, entry, settingsFile, goldenFiles, trust: trusted.trust, options };
}

async function rejects(p: Promise<unknown>, code: string, why: RegExp): Promise<AgentError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AgentError, `an AgentError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, why);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('keygen writes a 0600 private key and a public key, and never overwrites them', async (t) => {
  const dir = await tempDir(t, 'edge-keygen-');
  const key = await generateSigningKey('plant-north.2025', dir);
  assert.equal((await stat(key.keyFile)).mode & 0o777, 0o600);
  assert.equal((await stat(key.publicKeyFile)).mode & 0o777, 0o644);
  assert.match(await readFile(key.keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.match(await readFile(key.publicKeyFile, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
  assert.match(key.fingerprint, /^[0-9a-f]{16}$/);
  const before = await readFile(key.keyFile);
  await rejects(generateSigningKey('plant-north.2025', dir), 'E_KEY_EXISTS', /already exists; refusing to overwrite/);
  assert.deepEqual(await readFile(key.keyFile), before, 'the key is untouched');
  await rejects(generateSigningKey('bad id', dir), 'E_KEY_ID', /letters, digits/);
});

test('pack writes a signed bundle whose goldens are what the agent computes', { timeout: 60_000 }, async (t) => {
  const w = await workbench(t);
  const out = join(w.dir, 'bundle');
  const lines: string[] = [];
  const result = await packModel({ ...(await w.options(out)), progress: (l) => lines.push(l) });
  assert.deepEqual((await readdir(out)).sort(), ['manifest.json', 'model.onnx']);
  assert.ok(lines.some((l) => /^model\.onnx: .* copied in .* s \(.*\/s\), sha256 /.test(l)), lines.join('\n'));

  // The manifest on disk verifies with the public key, and with no other.
  const envelope = JSON.parse(await readFile(result.manifestFile, 'utf8')) as unknown;
  const verified = verifyEnvelope(envelope, w.trust);
  assert.ok(verified.ok, verified.ok ? '' : verified.reason);
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const otherKey = trustStoreFrom([{ id: 'ops-2025', publicKey: other }]);
  const otherName = trustStoreFrom([{ id: 'qa', publicKey: other }]);
  assert.ok(otherKey.ok && otherName.ok);
  assert.deepEqual(pick(verifyEnvelope(envelope, otherKey.trust)), 'E_BAD_SIGNATURE');
  assert.deepEqual(pick(verifyEnvelope(envelope, otherName.trust)), 'E_UNKNOWN_KEY');

  const m = ModelManifest.parse(verified.ok ? verified.payload : undefined);
  assert.equal(m.name, 'defect');
  assert.equal(m.counter, 7);
  assert.equal(m.createdAt, '2025-03-01T08:00:00.000Z');
  assert.equal(m.expiresAt, '2025-05-30T08:00:00.000Z', '90 days by default');
  assert.deepEqual(m.inputs, [{ name: 'image', dtype: 'float32', shape: [1, 1, 120, 160] }]);
  assert.deepEqual(m.outputs, [{ name: 'probabilities', dtype: 'float32', shape: [1, 2] }]);
  assert.deepEqual(m.output, { tensor: 'probabilities', softmax: 'auto', topK: 2 });
  assert.deepEqual(m.labels, ['ok', 'defect']);
  assert.deepEqual(m.preprocess, w.entry.preprocess);
  assert.deepEqual(m.arch, ['x64', 'arm64']);

  // sha256 and length are those of the file in the bundle, which is the model given.
  const [artifact] = m.artifacts;
  assert.ok(artifact);
  const bytes = await readFile(join(out, artifact.path));
  assert.deepEqual(bytes, await readFile(w.modelPath));
  assert.equal(artifact.bytes, bytes.length);
  assert.equal(artifact.sha256, sha256(bytes));
  assert.deepEqual(artifact.urls, ['https://models.example/defect/1.4.0/model.onnx']);

  // Goldens: the images as given, and the scores ImageClassifierModel gives them.
  const model = await ImageClassifierModel.load(ModelSchema.parse(w.entry), w.dir);
  t.after(() => model.release());
  assert.equal(m.goldens.length, GOLDEN_PARTS.length);
  const verdicts: string[] = [];
  for (const [i, golden] of m.goldens.entries()) {
    assert.equal(golden.input.kind, 'image');
    const image = Buffer.from(golden.input.kind === 'image' ? golden.input.data : '', 'base64');
    assert.deepEqual(image, await readFile(w.goldenFiles[i]!));
    assert.equal(golden.tolerance, 1e-3);
    const c = await model.classify(image);
    verdicts.push(c.label);
    for (const scored of c.topK) {
      const expected = golden.expected[m.labels!.indexOf(scored.label)]!;
      assert.ok(Math.abs(expected - scored.score) <= golden.tolerance, `${scored.label}: expected ${expected}, agent ${scored.score}`);
    }
  }
  assert.deepEqual(verdicts, ['defect', 'ok'], 'one golden of each verdict');

  // readBundle gives the same verified manifest and the artifact files.
  const bundle = await readBundle(out, w.trust);
  assert.deepEqual(bundle.manifest, m);
  assert.equal(bundle.artifacts[0]?.file, join(bundle.dir, 'model.onnx'));
  assert.deepEqual(bundle.keyIds, ['ops-2025']);
});

test('pack refuses to overwrite a bundle, and readBundle catches a changed artifact', { timeout: 60_000 }, async (t) => {
  const w = await workbench(t);
  const out = join(w.dir, 'bundle');
  await packModel(await w.options(out));
  await rejects(packModel(await w.options(out)), 'E_BUNDLE_EXISTS', /manifest\.json already exists/);
  const file = join(out, 'model.onnx');
  const bytes = await readFile(file);
  bytes[100] = bytes[100]! ^ 0x01;
  await writeFile(file, bytes);
  await rejects(readBundle(out, w.trust), 'E_ARTIFACT_MISMATCH', /model\.onnx has sha256 [0-9a-f]{64}, the manifest says/);
  await writeFile(file, bytes.subarray(1));
  await rejects(readBundle(out, w.trust, { hash: false }), 'E_ARTIFACT_MISMATCH', /is 13\d+ bytes, the manifest says/);
  const empty: TrustStore = new Map();
  await rejects(readBundle(out, empty), 'E_UNKNOWN_KEY', /unknown key "ops-2025"/);
});

test('a settings file with errors lists every one with its path', async (t) => {
  const w = await workbench(t);
  const bad = join(w.dir, 'bad.settings.yaml');
  await writeFile(bad, stringify({ preprocess: { width: 0, layout: 'NHCW', colour: 'red' }, output: { softmax: 'sometimes' }, label: ['ok'] }));
  const out = join(w.dir, 'bundle');
  const err = await rejects(packModel({ ...(await w.options(out)), settingsFile: bad }), 'E_CONFIG', /6 problems/);
  assert.ok(err instanceof ConfigError);
  const paths = err.problems.map((p) => p.slice(0, p.indexOf(':')));
  assert.deepEqual(paths.sort(), ['(root)', 'output.softmax', 'preprocess', 'preprocess.height', 'preprocess.layout', 'preprocess.width'].sort());
  assert.ok(!existsSync(out), 'nothing written');
});

test('settings that do not fit the model are refused with the agent’s own reason', async (t) => {
  const w = await workbench(t);
  const wrong = join(w.dir, 'wrong.settings.yaml');
  await writeFile(wrong, stringify({ preprocess: { width: 224, height: 224 } }));
  const err = await rejects(packModel({ ...(await w.options(join(w.dir, 'b'))), settingsFile: wrong }), 'E_MODEL_LOAD', /takes float32 \[1,1,120,160\], preprocess gives float32 \[1,3,224,224\]/);
  assert.ok(err.message.includes(w.modelPath), 'names the operator’s file, not the copy being tested');
  assert.ok(!existsSync(join(w.dir, 'b')), 'a folder pack created is removed again');
});

test('a model that does not load is refused with the reason', { timeout: 60_000 }, async (t) => {
  const w = await workbench(t);
  const junk = join(w.dir, 'junk.onnx');
  await writeFile(junk, createHash('sha512').update('not a model').digest());
  const out = join(w.dir, 'junk-bundle');
  await rejects(packModel({ ...(await w.options(out)), modelFile: junk }), 'E_MODEL_LOAD', new RegExp(`model ${junk} could not be loaded: .*[Pp]rotobuf`));
  assert.ok(!existsSync(out));
});

test('pcb-aoi.onnx (a real model onnxruntime cannot load) is refused with the reason', { timeout: 60_000, skip: existsSync(PCB_AOI) ? false : `${PCB_AOI} is absent` }, async (t) => {
  const w = await workbench(t);
  await rejects(packModel({ ...(await w.options(join(w.dir, 'pcb'))), modelFile: PCB_AOI }), 'E_MODEL_LOAD', /pcb-aoi\.onnx could not be loaded: .*LegacyPadding/);
});

test('edgectl keygen and pack as processes: exit codes 0, 1 and 2', { timeout: 120_000 }, async (t) => {
  const w = await workbench(t);
  const keys = join(w.dir, 'cli-keys');
  const keygen = await runBin('edgectl', ['keygen', '--id', 'cli-ops', '--out', keys]);
  assert.equal(keygen.code, 0, keygen.stderr);
  assert.match(keygen.stdout, /^key id: +cli-ops$/m);
  const fingerprint = /^fingerprint: +([0-9a-f]{16})$/m.exec(keygen.stdout)?.[1];
  const publicKey = /publicKey: (\S+)/.exec(keygen.stdout)?.[1];
  assert.ok(fingerprint && publicKey, keygen.stdout);
  assert.equal((await stat(join(keys, 'cli-ops.key'))).mode & 0o777, 0o600);
  const again = await runBin('edgectl', ['keygen', '--id', 'cli-ops', '--out', keys]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
  assert.equal((await runBin('edgectl', ['keygen'])).code, 2);

  const out = join(w.dir, 'cli-bundle');
  const args = ['pack', '--model', w.modelPath, '--name', 'defect', '--version', '2.0.0', '--counter', '8', '--settings', w.settingsFile, '--key', join(keys, 'cli-ops.key'), '--out', out];
  const pack = await runBin('edgectl', [...args, '--golden', w.goldenFiles[0]!, '--golden', w.goldenFiles[1]!, '--expires-in', '30d', '--arch', 'arm64']);
  assert.equal(pack.code, 0, pack.stderr);
  assert.match(pack.stdout, /packed defect 2\.0\.0 \(counter 8\)/);
  assert.ok(pack.stdout.includes(fingerprint), 'names the signing key’s fingerprint');
  assert.match(pack.stderr, /model\.onnx: .* copied in/);
  // The public key exactly as keygen printed it for the agent config verifies the bundle.
  const trust = trustStoreFrom([{ id: 'cli-ops', publicKey }]);
  assert.ok(trust.ok);
  const bundle = await readBundle(out, trust.trust);
  assert.deepEqual(bundle.manifest.arch, ['arm64']);
  assert.equal(bundle.manifest.goldens.length, 2);
  assert.equal(Date.parse(bundle.manifest.expiresAt) - Date.parse(bundle.manifest.createdAt), 30 * 86_400_000);

  const usage = async (extra: string[], why: RegExp) => {
    const r = await runBin('edgectl', extra);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0] ?? '', why);
  };
  await usage(['pack', ...args.slice(1, -2)], /^edgectl pack: --out is required$/);
  await usage([...args.slice(0, 8), 'seven', ...args.slice(9)], /--counter must be a positive whole number, got "seven"/);
  await usage([...args, '--expires-in', '3 months'], /--expires-in must be/);
  await usage([...args, '--arch', 'x64,riscv'], /--arch must be/);
  await usage([...args, '--frobnicate'], /Unknown option '--frobnicate'/);

  const junk = join(w.dir, 'junk.onnx');
  await writeFile(junk, Buffer.alloc(4096, 7));
  const failed = await runBin('edgectl', [...args.slice(0, 2), junk, ...args.slice(3, -1), join(w.dir, 'cli-junk')]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /^edgectl pack: model .*junk\.onnx could not be loaded: /m);
  assert.doesNotMatch(failed.stderr, /^\s+at /m, 'no stack trace');
});

function pick(r: ReturnType<typeof verifyEnvelope>): string {
  return r.ok ? 'ok' : r.code;
}
