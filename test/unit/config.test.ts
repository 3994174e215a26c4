import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { applyEnvOverlay } from '../../agent/config/env-overlay.js';
import { ConfigError, loadConfig } from '../../agent/config/load.js';
import { redact } from '../../agent/config/redact.js';

const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const minimal = `
deviceId: line3-gw01
sources:
  - id: cam1
    type: folder
    path: inbox
models:
  - name: defect
    path: models/defect.onnx
    preprocess: { width: 128, height: 128 }
broker:
  url: mqtt://127.0.0.1:1883
  password: s3cret
`;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

test('a minimal config gets the schema defaults and absolute paths', () => {
  const { config } = loadConfig(file('min.yaml', minimal), {});
  assert.equal(config.site, 'default');
  assert.equal(config.broker.protocolVersion, 5);
  assert.equal(config.broker.batch.maxCount, 100);
  assert.equal(config.status.port, 8080);
  assert.equal(config.status.host, '127.0.0.1', 'loopback unless exposed on purpose');
  assert.equal(config.pipeline.concurrency, 3);
  assert.equal(config.models[0]?.preprocess.layout, 'NCHW');
  assert.equal(config.models[0]?.output.topK, 3);
  const src = config.sources[0];
  assert.equal(src?.type, 'folder');
  if (src?.type === 'folder') {
    assert.equal(src.path, join(dir, 'inbox'));
    assert.equal(src.stableMs, 300);
  }
  assert.equal(config.models[0]?.path, join(dir, 'models/defect.onnx'));
});

test('every error is reported at once, with its path and reason', () => {
  const bad = file(
    'bad.yaml',
    `deviceId: "gw 1"
sources:
  - id: cam1
    type: folder
    pth: inbox
models:
  - name: m
    path: m.onnx
    preprocess: { width: 0, height: 10, dtype: float64 }
broker: { url: "http//x", colour: blue }
`,
  );
  const problems = problemsOf(() => loadConfig(bad, {}));
  const joined = problems.join('\n');
  assert.equal(problems.length, 7, joined);
  assert.match(joined, /^deviceId: /m);
  assert.match(joined, /^sources\.0\.path: required/m);
  assert.match(joined, /^sources\.0: unknown key "pth"/m);
  assert.match(joined, /^models\.0\.preprocess\.width: /m);
  assert.match(joined, /^models\.0\.preprocess\.dtype: /m);
  assert.match(joined, /^broker\.url: /m);
  assert.match(joined, /^broker: unknown key "colour"/m);
});

test('cross-field checks: unknown model routes and duplicate ids', () => {
  const text = minimal.replace('    path: inbox', '    path: inbox\n    models: [nope]\n  - id: cam1\n    type: synthetic');
  const problems = problemsOf(() => loadConfig(file('cross.yaml', text), {}));
  assert.ok(problems.some((p) => p.startsWith('sources.0.models.0: no model named "nope"')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('sources.1.id: duplicate source id')), problems.join('\n'));
});

test('cross-field checks still run when other entries are malformed', () => {
  const text = minimal.replace('    path: inbox', '    path: inbox\n    models: [nope]\n  - id: cam1\n    type: folder');
  const problems = problemsOf(() => loadConfig(file('cross-partial.yaml', text), {}));
  assert.deepEqual(problems.sort(), ['sources.0.models.0: no model named "nope"', 'sources.1.id: duplicate source id "cam1"', 'sources.1.path: required (string)']);
});

test('empty, non-YAML, non-mapping and unreadable files get one clear line', () => {
  assert.deepEqual(problemsOf(() => loadConfig(file('empty.yaml', '  \n'), {})), ['config file is empty']);
  assert.match(problemsOf(() => loadConfig(file('broken.yaml', 'a: [1,\n'), {}))[0] ?? '', /^not valid YAML: .*line \d+/);
  assert.match(problemsOf(() => loadConfig(file('list.yaml', '- a\n'), {}))[0] ?? '', /must be a YAML mapping/);
  assert.deepEqual(problemsOf(() => loadConfig(join(dir, 'missing.yaml'), {})), ['cannot read config: file not found']);
  assert.deepEqual(problemsOf(() => loadConfig(dir, {})), ['cannot read config: is a directory, not a file']);
});

test('environment variables override keys by the documented naming rule', () => {
  const env = {
    EDGE_AGENT__BROKER__URL: 'mqtts://broker.plant:8883',
    EDGE_AGENT__BROKER__CLIENT_ID: 'gw-7',
    EDGE_AGENT__STATUS__PORT: '9090',
    EDGE_AGENT__STATUS__ENABLED: 'false',
    EDGE_AGENT__SOURCES__0__STABLE_MS: '1000',
    EDGE_AGENT__DEVICE_ID: 'line4-gw02',
    OTHER: 'ignored',
  };
  const { config, envApplied } = loadConfig(file('env.yaml', minimal), env);
  assert.equal(config.broker.url, 'mqtts://broker.plant:8883');
  assert.equal(config.broker.clientId, 'gw-7');
  assert.equal(config.status.port, 9090);
  assert.equal(config.status.enabled, false);
  assert.equal(config.deviceId, 'line4-gw02');
  const src = config.sources[0];
  assert.ok(src?.type === 'folder' && src.stableMs === 1000);
  assert.equal(envApplied.length, 6);
});

test('an environment override is validated like the file', () => {
  const problems = problemsOf(() => loadConfig(file('env-bad.yaml', minimal), { EDGE_AGENT__STATUS__PORT: 'eighty', EDGE_AGENT__BROKER__TYPO: '1' }));
  assert.ok(problems.some((p) => p.startsWith('status.port:')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('broker: unknown key "typo"')), problems.join('\n'));
});

test('env overlay builds missing objects and lists', () => {
  const target: Record<string, unknown> = {};
  applyEnvOverlay(target, { EDGE_AGENT__BROKER__TLS__CA: '/etc/ca.pem', EDGE_AGENT__SOURCES__1__ID: 'cam2' });
  assert.deepEqual(target.broker, { tls: { ca: '/etc/ca.pem' } });
  assert.deepEqual((target.sources as unknown[])[1], { id: 'cam2' });
});

test('secrets are redacted, paths to key files are not', () => {
  const out = redact({ broker: { password: 'p', username: 'u', tls: { key: '/etc/k.pem' } }, token: 't', nested: [{ secret: 'x' }] });
  assert.deepEqual(out, { broker: { password: '[redacted]', username: 'u', tls: { key: '/etc/k.pem' } }, token: '[redacted]', nested: [{ secret: '[redacted]' }] });
  assert.deepEqual(redact({ key: '-----BEGIN PRIVATE KEY-----abc' }), { key: '[redacted]' });
});

test('the example config in deploy/ is valid', () => {
  const example = new URL('../../deploy/edge-agent.example.yaml', import.meta.url).pathname;
  const { config } = loadConfig(example, {});
  assert.equal(config.deviceId, 'line3-gw01');
  assert.equal(config.broker.tls?.rejectUnauthorized, true);
});

test('memory.trimIntervalMs: 10 s by default, 0 turns trimming off, anything else that is not a whole number of ms up to an hour is refused by name', () => {
  assert.equal(loadConfig(file('mem-default.yaml', minimal), {}).config.memory.trimIntervalMs, 10_000);
  assert.equal(loadConfig(file('mem-off.yaml', `${minimal}memory: { trimIntervalMs: 0 }\n`), {}).config.memory.trimIntervalMs, 0);
  for (const bad of ['-1', '2.5', '"10s"', '3600001']) {
    const problems = problemsOf(() => loadConfig(file('mem-bad.yaml', `${minimal}memory: { trimIntervalMs: ${bad} }\n`), {}));
    assert.ok(problems.some((p) => p.startsWith('memory.trimIntervalMs:')), `${bad}: ${problems.join('\n')}`);
  }
  const typo = problemsOf(() => loadConfig(file('mem-typo.yaml', `${minimal}memory: { trimInterval: 5000 }\n`), {}));
  assert.ok(typo.some((p) => p.startsWith('memory: unknown key "trimInterval"')), typo.join('\n'));
});
