import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCompatibility, checkManifestTime, compareSemver, DEFAULT_CLOCK_SKEW_MS, modelArtifact, ModelManifest, type ModelManifestInput } from '../../protocol/manifest.js';
import { formatIssues } from '../../protocol/parse.js';
import { parseSemver } from '../../protocol/semver.js';

const CREATED = '2025-03-01T08:00:00Z';
const EXPIRES = '2025-06-01T08:00:00.000Z';

function manifest(over: Record<string, unknown> = {}): Record<string, unknown> {
  const base: ModelManifestInput = {
    v: 1,
    name: 'defect',
    version: '1.4.0',
    counter: 7,
    createdAt: CREATED,
    expiresAt: EXPIRES,
    task: 'classification',
    inputs: [{ name: 'image', dtype: 'float32', shape: [1, 1, 120, 160] }],
    outputs: [{ name: 'probabilities', dtype: 'float32', shape: ['batch', 2] }],
    preprocess: { width: 160, height: 120, channels: 'GRAY' },
    output: { tensor: 'probabilities', topK: 2 },
    labels: ['ok', 'defect'],
    artifacts: [{ role: 'model', path: 'model.onnx', sha256: 'a1'.repeat(32), bytes: 13122, urls: ['https://models.example/defect/1.4.0/model.onnx'] }],
    goldens: [
      { input: { kind: 'image', data: Buffer.from('not really a jpeg').toString('base64') }, expected: [0.98, 0.02], tolerance: 1e-3 },
      { input: { kind: 'tensor', dims: [1, 3], data: [0.1, 0.2, 0.3] }, expected: [1], tolerance: 1e-2 },
    ],
    minAgentVersion: '0.2.0',
    arch: ['x64', 'arm64'],
  };
  return { ...base, ...over };
}

/** The `path: reason` lines of a refused manifest. */
function problems(value: unknown): string[] {
  const r = ModelManifest.safeParse(value);
  assert.equal(r.success, false, 'expected a refusal');
  return r.success ? [] : r.error.issues.map((i) => formatIssues([i]));
}

function refusedAt(value: unknown, path: string, why: RegExp): void {
  const lines = problems(value);
  assert.ok(lines.some((l) => l.startsWith(`${path}: `) && why.test(l)), `expected "${path}: ${why}" among:\n  ${lines.join('\n  ')}`);
}

test('a complete manifest parses and the reserved fields get their defaults', () => {
  const m = ModelManifest.parse(manifest());
  assert.equal(m.referenceProfile, null);
  assert.deepEqual(m.explain, { enabled: false });
  assert.equal(m.preprocess.layout, 'NCHW', 'preprocess defaults are the agent config’s');
  assert.equal(m.output.softmax, 'auto');
  assert.equal(modelArtifact(m).path, 'model.onnx');
  const h = { edges: [0, 0.5, 1], counts: [3, 2], mean: 0.4, std: 0.2 };
  const profile = { v: 1, samples: 5, image: { brightness: h }, outputs: { kind: 'classes', labels: ['ok', 'defect'], counts: [4, 1] }, confidence: { top1: h, entropy: h } };
  const withProfile = ModelManifest.parse(manifest({ referenceProfile: profile, explain: { enabled: true, method: 'occlusion', sampleRate: 0.05 }, budgets: { latencyP99Ms: 40 } }));
  assert.deepEqual(withProfile.referenceProfile, profile);
  // The profile is checked like the rest: bins that do not match their edges are refused.
  assert.equal(ModelManifest.safeParse(manifest({ referenceProfile: { ...profile, image: { brightness: { ...h, counts: [1] } } } })).success, false);
  assert.ok(ModelManifest.safeParse(manifest({ goldens: undefined, labels: undefined })).success, 'goldens and labels are optional');
  assert.ok(ModelManifest.safeParse(manifest({ artifacts: [{ role: 'model', path: 'models/v1/model.onnx', sha256: 'a1'.repeat(32), bytes: 1, urls: [] }] })).success, 'no URLs: delivered over MQTT');
});

test('manifest refusals name the path of each problem', () => {
  const artifact = { role: 'model', path: 'model.onnx', sha256: 'a1'.repeat(32), bytes: 13122, urls: [] };
  refusedAt(manifest({ artifacts: [{ ...artifact, sha256: 'xyz' }] }), 'artifacts.0.sha256', /64 lowercase hex/);
  refusedAt(manifest({ artifacts: [{ ...artifact, sha256: 'A1'.repeat(32) }] }), 'artifacts.0.sha256', /64 lowercase hex/);
  refusedAt(manifest({ artifacts: [{ ...artifact, path: '../model.onnx' }] }), 'artifacts.0.path', /without '\.\.'/);
  refusedAt(manifest({ artifacts: [{ ...artifact, path: 'models/../../etc/passwd' }] }), 'artifacts.0.path', /without '\.\.'/);
  refusedAt(manifest({ artifacts: [{ ...artifact, path: '/etc/passwd' }] }), 'artifacts.0.path', /not an absolute one/);
  refusedAt(manifest({ artifacts: [{ ...artifact, path: 'C:\\models\\m.onnx' }] }), 'artifacts.0.path', /not an absolute one/);
  refusedAt(manifest({ artifacts: [{ ...artifact, path: './model.onnx' }] }), 'artifacts.0.path', /'\.' segments/);
  refusedAt(manifest({ artifacts: [{ ...artifact, bytes: 0 }] }), 'artifacts.0.bytes', /.+/);
  refusedAt(manifest({ artifacts: [{ ...artifact, urls: ['ftp://models.example/m.onnx'] }] }), 'artifacts.0.urls.0', /http/);
  refusedAt(manifest({ artifacts: [{ ...artifact, role: 'labels' }] }), 'artifacts', /exactly one artifact with role "model", found 0/);
  refusedAt(manifest({ artifacts: [artifact, { ...artifact, path: 'other.onnx' }] }), 'artifacts', /found 2/);
  refusedAt(manifest({ artifacts: [artifact, { ...artifact, role: 'other' }] }), 'artifacts.1.path', /listed twice/);
  refusedAt(manifest({ expiresAt: '2025-02-01T08:00:00Z' }), 'expiresAt', /after createdAt/);
  refusedAt(manifest({ expiresAt: CREATED }), 'expiresAt', /after createdAt/);
  refusedAt(manifest({ createdAt: '2025-03-01T09:00:00+01:00' }), 'createdAt', /UTC/);
  refusedAt(manifest({ createdAt: 'yesterday' }), 'createdAt', /ISO 8601/);
  refusedAt(manifest({ signedBy: 'me' }), '(root)', /unknown key "signedBy"/);
  refusedAt(manifest({ preprocess: { width: 160, height: 120, colour: 'grey' } }), 'preprocess', /unknown key "colour"/);
  refusedAt(manifest({ explain: { enabled: true, budget: 3 } }), 'explain', /unknown key "budget"/);
  refusedAt(manifest({ version: '1.4' }), 'version', /semantic version/);
  refusedAt(manifest({ version: '1.4.0+build.7' }), 'version', /without \+build/);
  refusedAt(manifest({ name: '../defect' }), 'name', /letters, digits/);
  refusedAt(manifest({ counter: 0 }), 'counter', /.+/);
  refusedAt(manifest({ counter: 1.5 }), 'counter', /.+/);
  refusedAt(manifest({ v: 2 }), 'v', /.+/);
  refusedAt(manifest({ task: 'segmentation' }), 'task', /.+/);
  refusedAt(manifest({ arch: [] }), 'arch', /.+/);
  refusedAt(manifest({ arch: ['x64', 'x64'] }), 'arch', /listed twice/);
  refusedAt(manifest({ arch: ['riscv64'] }), 'arch.0', /.+/);
  refusedAt(manifest({ minAgentVersion: 'latest' }), 'minAgentVersion', /semantic version/);
  refusedAt(manifest({ referenceProfile: [1, 2] }), 'referenceProfile', /.+/);
  refusedAt(manifest({ output: { tensor: 'logits' } }), 'output.tensor', /no output "logits"/);
  refusedAt(manifest({ inputs: [{ name: 'image', dtype: 'float99', shape: [1] }] }), 'inputs.0.dtype', /.+/);
  refusedAt(manifest({ goldens: [{ input: { kind: 'tensor', dims: [2, 2], data: [1, 2, 3] }, expected: [1], tolerance: 1e-3 }] }), 'goldens.0.input.data', /product of dims/);
  refusedAt(manifest({ goldens: [{ input: { kind: 'image', data: 'not base64!' }, expected: [1], tolerance: 1e-3 }] }), 'goldens.0.input.data', /.+/);
  refusedAt(manifest({ goldens: [{ input: { kind: 'video', data: '' }, expected: [1], tolerance: 1e-3 }] }), 'goldens.0.input.kind', /.+/);
  refusedAt(manifest({ goldens: [{ input: { kind: 'tensor', dims: [1], data: [1] }, expected: [], tolerance: 0 }] }), 'goldens.0.tolerance', /.+/);
});

test('several problems are listed together', () => {
  const lines = problems(manifest({ version: 'one', counter: -1, arch: [], extra: 1 }));
  for (const path of ['version', 'counter', 'arch', '(root)']) assert.ok(lines.some((l) => l.startsWith(`${path}: `)), `${path} in ${lines.join('; ')}`);
});

test('time checks: expired, not yet valid, and the clock skew allowance', () => {
  const m = ModelManifest.parse(manifest());
  const created = Date.parse(CREATED);
  const expires = Date.parse(EXPIRES);
  const minute = 60_000;
  assert.deepEqual(checkManifestTime(m, created + 10 * minute), { ok: true });
  const expired = checkManifestTime(m, expires + DEFAULT_CLOCK_SKEW_MS + 1);
  assert.equal(expired.ok ? 'ok' : expired.code, 'E_MANIFEST_EXPIRED');
  if (!expired.ok) assert.match(expired.reason, /expired at 2025-06-01/);
  assert.ok(checkManifestTime(m, expires + DEFAULT_CLOCK_SKEW_MS).ok, 'within the skew after expiry');
  const early = checkManifestTime(m, created - DEFAULT_CLOCK_SKEW_MS - 1);
  assert.equal(early.ok ? 'ok' : early.code, 'E_MANIFEST_NOT_YET_VALID');
  assert.ok(checkManifestTime(m, created - DEFAULT_CLOCK_SKEW_MS).ok, 'a gateway clock a little behind central still accepts a fresh manifest');
  // The skew is configurable, down to none.
  assert.equal(checkManifestTime(m, expires + 1, { skewMs: 0 }).ok, false);
  assert.equal(checkManifestTime(m, created - 1, { skewMs: 0 }).ok, false);
  assert.ok(checkManifestTime(m, expires + 50 * minute, { skewMs: 60 * minute }).ok);
});

test('compatibility: agent version and architecture', () => {
  const m = ModelManifest.parse(manifest({ minAgentVersion: '0.3.0', arch: ['arm64'] }));
  const code = (agentVersion: string, arch: string) => {
    const r = checkCompatibility(m, { agentVersion, arch });
    return r.ok ? 'ok' : r.code;
  };
  assert.equal(code('0.3.0', 'arm64'), 'ok');
  assert.equal(code('1.0.0', 'arm64'), 'ok');
  assert.equal(code('0.2.9', 'arm64'), 'E_AGENT_TOO_OLD');
  assert.equal(code('0.3.0-rc.1', 'arm64'), 'E_AGENT_TOO_OLD', 'a prerelease comes before its release');
  assert.equal(code('unknown', 'arm64'), 'E_AGENT_TOO_OLD');
  assert.equal(code('0.3.0', 'x64'), 'E_ARCH_UNSUPPORTED');
  const r = checkCompatibility(m, { agentVersion: '0.2.0', arch: 'arm64' });
  if (!r.ok) assert.match(r.reason, /needs agent 0\.3\.0 or newer; this agent is 0\.2\.0/);
});

test('compareSemver follows semver 2.0 precedence', () => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.2.0', '1.10.0', '2.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(Math.sign(compareSemver(ordered[i]!, ordered[j]!)), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
    }
  }
  assert.equal(compareSemver('1.0.0+build.1', '1.0.0+build.2'), 0, 'build metadata does not count');
  assert.equal(compareSemver('1.0.0-99999999999999999999', '1.0.0-100000000000000000000'), -1, 'numeric identifiers of any size');
  assert.throws(() => compareSemver('1.0', '1.0.0'), RangeError);
  assert.throws(() => compareSemver('1.0.0', 'v1.0.0'), RangeError);
  assert.equal(parseSemver('01.0.0'), undefined, 'no leading zeros');
  assert.deepEqual(parseSemver('1.2.3-rc.1+sha.5'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', '1'], build: ['sha', '5'] });
});
