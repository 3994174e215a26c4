import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { readBundle } from '../../central/bundle/read.js';
import { generateSigningKey, type GeneratedKey } from '../../central/keys/keygen.js';
import type { ManifestDiff } from '../../central/models/diff.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { REPO_ROOT, runBin } from '../helpers/child.js';
import { edgectl, publishInProcess } from '../helpers/ops-bench.js';
import { trustStoreFrom } from '../../protocol/signing.js';

/*
 * Two versions of a real third-party model (MNIST) packed with the real `edgectl pack`:
 * 2.0.0 changes the preprocessing (scale), the code commit, the validation metrics, and
 * adds a drift reference profile measured on real images; the labels stay the same.
 */

const DATA = resolve(REPO_ROOT, '../shared/data');
const MNIST = join(DATA, 'models/winml_mnist.onnx');
const TILES = join(DATA, 'images/magnetic_tile');
const missing = !existsSync(MNIST) || !existsSync(TILES) || !existsSync(join(DATA, 'images/pcb_winml'));
const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

let dir: string;
let key: GeneratedKey;
let broker: TestBroker;
let trainFile: string;

async function pack(version: string, counter: number, settings: Record<string, unknown>, extra: string[]): Promise<string> {
  const settingsFile = join(dir, `mnist-${version}.yaml`);
  await writeFile(settingsFile, stringify(settings));
  const out = join(dir, 'registry', 'mnist', version);
  const r = await runBin('edgectl', ['pack', '--model', MNIST, '--name', 'mnist', '--version', version, '--counter', String(counter), '--settings', settingsFile, '--key', key.keyFile, '--out', out, '--url-base', `http://models.example/mnist/${version}`, ...extra], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  return out;
}

after(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

before(async () => {
  if (missing) return;
  dir = await mkdtemp(join(tmpdir(), 'edge-models-'));
  key = await generateSigningKey('ds-alice', join(dir, 'keys'));
  trainFile = join(dir, 'train.csv');
  await writeFile(trainFile, 'digit,pixels\n7,...\n');
  await writeFile(join(dir, 'val.csv'), 'digit,pixels\n1,...\n');
  // A reference profile needs 20 images: the magnetic tiles and the PCB photos, copied to a temp folder.
  const reference = join(dir, 'reference');
  await mkdir(reference);
  for (const from of [TILES, join(DATA, 'images/pcb_winml')]) for (const f of await readdir(from)) await copyFile(join(from, f), join(reference, f));
  broker = await startBroker();
  const preprocess = { width: 28, height: 28, channels: 'GRAY', scale: 1 / 255 };
  const lineage = (commit: string, accuracy: number) => ({
    code: { commit, repository: 'git@example.com:vision/mnist.git' },
    hyperparameters: { lr: 0.01, epochs: 12, optimizer: 'sgd' },
    validation: { dataset: { file: 'val.csv' }, metrics: { accuracy, 'recall/seven': 0.95 } },
  });
  await pack('1.0.0', 1, { preprocess, labels: LABELS, lineage: lineage('1111111aaaaaaa', 0.97) }, ['--training-data', trainFile]);
  await pack('2.0.0', 2, { preprocess: { ...preprocess, scale: 1 }, labels: LABELS, lineage: lineage('2222222bbbbbbb', 0.91) }, ['--training-data', trainFile, '--reference', reference, '--metric', 'recall/seven=0.9']);
});

test('pack writes the lineage into the signed manifest: dataset checksums, commit, hyperparameters, metrics, packer and time', { skip: missing && `../shared/data absent: ${MNIST}` }, async () => {
  const trust = trustStoreFrom([{ id: key.keyId, publicKey: await readFile(key.publicKeyFile, 'utf8') }]);
  assert.ok(trust.ok);
  const bundle = await readBundle(join(dir, 'registry', 'mnist', '2.0.0'), trust.trust);
  const lineage = bundle.manifest.lineage;
  assert.ok(lineage, 'the manifest carries lineage');
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.deepEqual(lineage.training?.datasets, [{ name: 'train.csv', sha256: sha(await readFile(trainFile)), bytes: (await readFile(trainFile)).length }]);
  assert.equal(lineage.code?.commit, '2222222bbbbbbb');
  assert.deepEqual(lineage.hyperparameters, { lr: 0.01, epochs: 12, optimizer: 'sgd' });
  assert.equal(lineage.validation?.dataset.name, 'val.csv');
  assert.equal(lineage.validation?.dataset.sha256, sha(await readFile(join(dir, 'val.csv'))));
  assert.deepEqual(lineage.validation?.metrics, { accuracy: 0.91, 'recall/seven': 0.9 }, 'a --metric flag overrides the settings');
  assert.match(lineage.packedBy, /\S/);
  assert.equal(lineage.packedAt, bundle.manifest.createdAt);
});

test('pack refuses metrics without the dataset they were measured on, and a dataset file that is not there', { skip: missing && `../shared/data absent: ${MNIST}` }, async () => {
  const settingsFile = join(dir, 'bad.yaml');
  await writeFile(settingsFile, stringify({ preprocess: { width: 28, height: 28, channels: 'GRAY' } }));
  const base = ['pack', '--model', MNIST, '--name', 'mnist', '--version', '9.0.0', '--counter', '9', '--settings', settingsFile, '--key', key.keyFile, '--out', join(dir, 'bad')];
  const noDataset = await runBin('edgectl', [...base, '--metric', 'accuracy=0.9']);
  assert.equal(noDataset.code, 1);
  assert.match(noDataset.stderr, /validation metrics need the dataset they were measured on/);
  const gone = await runBin('edgectl', [...base, '--training-data', join(dir, 'nope.csv')]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /lineage: dataset: .*nope\.csv.*not found/);
  assert.equal(existsSync(join(dir, 'bad')), false, 'nothing is left behind');
});

test('models diff names the changed preprocessing, metrics, lineage and reference profile, and says the labels did not change', { skip: missing && `../shared/data absent: ${MNIST}` }, async () => {
  const args = ['models', 'diff', 'mnist@1.0.0', 'mnist@2.0.0', '--dir', join(dir, 'registry'), '--trust', key.publicKeyFile];
  const text = await runBin('edgectl', args);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^mnist 1\.0\.0 \(counter 1\) → mnist 2\.0\.0 \(counter 2\)$/m);
  assert.match(text.stdout, /^preprocessing:\n {2}preprocess\.scale: 0\.00392156862745098 → 1 \(\+0\.9961\)$/m);
  assert.match(text.stdout, /^metrics:\n {2}metrics\.accuracy: 0\.97 → 0\.91 \(-0\.06\)\n {2}metrics\.recall\/seven: 0\.95 → 0\.9 \(-0\.05\)$/m);
  assert.match(text.stdout, /^ {2}lineage\.code\.commit: 1111111aaaaaaa → 2222222bbbbbbb$/m);
  assert.match(text.stdout, /^reference profile:\n {2}referenceProfile\.samples: added 22\n {2}referenceProfile\.image\.brightness\.mean: added 0\.\d+$/m);
  assert.match(text.stdout, /^unchanged: .*\blabels\b/m);
  assert.doesNotMatch(text.stdout, /^labels:/m);

  const json = await runBin('edgectl', [...args, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const diff = JSON.parse(json.stdout) as ManifestDiff;
  assert.deepEqual(diff.changes.filter((c) => c.section === 'preprocessing'), [{ section: 'preprocessing', path: 'preprocess.scale', before: 1 / 255, after: 1 }]);
  assert.ok(diff.unchanged.includes('labels') && diff.unchanged.includes('interface'));
  assert.ok(!diff.unchanged.includes('preprocessing'));

  const unknown = await runBin('edgectl', ['models', 'diff', 'mnist@1.0.0', 'mnist@3.0.0', '--dir', join(dir, 'registry')]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no mnist@3\.0\.0 \(versions of mnist: 2\.0\.0, 1\.0\.0\)/);
});

test('models list shows what the registry holds, from bundle folders and from the broker, with lineage and signers', { skip: missing && `../shared/data absent: ${MNIST}` }, async () => {
  const fromDir = await runBin('edgectl', ['models', 'list', '--dir', join(dir, 'registry'), '--trust', key.publicKeyFile]);
  assert.equal(fromDir.code, 0, fromDir.stderr);
  const lines = fromDir.stdout.trim().split('\n');
  assert.match(lines[0]!, /^MODEL +VERSION +COUNTER +CREATED +EXPIRES +PACKED BY +COMMIT +METRICS +SIGNED BY +WHERE$/);
  assert.match(lines[1]!, /^mnist +2\.0\.0 +2 .* 2222222bbbbb +accuracy=0\.91 recall\/seven=0\.9 +ds-alice +mnist\/2\.0\.0$/);
  assert.match(lines[2]!, /^mnist +1\.0\.0 +1 .* 1111111aaaaa +accuracy=0\.97 recall\/seven=0\.95 +ds-alice +mnist\/1\.0\.0$/);

  const prefix = 'models-list/v1';
  const trust = trustStoreFrom([{ id: key.keyId, publicKey: await readFile(key.publicKeyFile, 'utf8') }]);
  assert.ok(trust.ok);
  for (const v of ['1.0.0', '2.0.0']) await publishInProcess(broker, prefix, join(dir, 'registry', 'mnist', v), trust.trust, 'http');
  const fromBroker = await edgectl(broker, prefix, ['models', 'list', '--json', '--trust', key.publicKeyFile]);
  assert.equal(fromBroker.code, 0, fromBroker.stderr);
  const listing = JSON.parse(fromBroker.stdout) as { entries: Array<{ manifest: { version: string }; where: string; signedBy: string[] }>; refused: unknown[] };
  assert.deepEqual(listing.entries.map((e) => [e.manifest.version, e.where, e.signedBy]), [
    ['2.0.0', `${prefix}/models/mnist/2.0.0/manifest`, ['ds-alice']],
    ['1.0.0', `${prefix}/models/mnist/1.0.0/manifest`, ['ds-alice']],
  ]);
  assert.deepEqual(listing.refused, []);

  const stranger = await generateSigningKey('ds-alice', join(dir, 'stranger'));
  const untrusted = await edgectl(broker, prefix, ['models', 'list', '--trust', stranger.publicKeyFile]);
  assert.equal(untrusted.code, 0, untrusted.stderr);
  assert.match(untrusted.stdout, /^refused models-list\/v1\/models\/mnist\/2\.0\.0\/manifest: E_BAD_SIGNATURE/m, 'a manifest the given key did not sign is listed as refused');
});
