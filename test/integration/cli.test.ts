import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import type { AgentConfig, AgentConfigInput } from '../../agent/config/schema.js';
import { agentConfig, parseLogLines, writeConfig } from '../helpers/agent-process.js';
import { freePort } from '../helpers/broker.js';
import { REPO_ROOT, runBin, type BinResult } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

const SECRET = 's3cret-broker-pw';
const BROKER = { url: 'mqtt://127.0.0.1:1883', protocolVersion: 5 as const };
const PCB_AOI = resolve(REPO_ROOT, '../shared/data/models/pcb-aoi.onnx');

/** The least an operator must write, so the output shows the defaults; check-config starts nothing, so the model need not exist. */
function validConfig(): AgentConfigInput {
  return {
    deviceId: 'cli-gw01',
    sources: [{ id: 'cam1', type: 'folder', path: 'inbox' }],
    models: [{ name: 'defect', path: 'models/defect.onnx', preprocess: { width: 160, height: 120 } }],
    broker: { url: BROKER.url, username: 'edge', password: SECRET },
  };
}

/** Several independent mistakes, each at a different depth of the config. */
const BROKEN = {
  deviceId: 'bad id!',
  sources: [{ id: 'cam1', type: 'folder', path: 'inbox', stableMs: -5 }],
  models: [{ name: 'defect', path: 'm.onnx', preprocess: { width: 0, height: 120, layout: 'NHCW' }, colour: 'red' }],
  broker: { url: 'http://example.com' },
  status: { port: 70000 },
};
const BROKEN_PATHS = ['deviceId', 'sources.0.stableMs', 'models.0.preprocess.width', 'models.0.preprocess.layout', 'models.0', 'broker.url', 'status.port'];

function checkConfig(file: string, env: Record<string, string> = {}): Promise<BinResult> {
  return runBin('edge-agent', ['check-config', '--config', file], { env });
}

/** Refusals are for operators: one line per problem, never a stack trace. */
function assertNoStack(r: BinResult): void {
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack frames on stderr:\n${r.stderr}`);
}

/** The one-line refusals: file named, exit 1, nothing on stdout. */
function assertOneLineRefusal(r: BinResult, file: string, why: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
  assert.ok(lines[0]?.includes(file), `names the file: ${lines[0]}`);
  assert.match(lines[0] ?? '', why);
}

test('check-config prints the resolved config with defaults and the password redacted', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const file = await writeConfig(dir, validConfig());
  const r = await checkConfig(file);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(SECRET), 'the password never appears');
  const resolved = parse(r.stdout) as AgentConfig;
  assert.equal(resolved.broker.password, '[redacted]');
  assert.equal(resolved.broker.username, 'edge', 'only secrets are redacted');
  // Defaults the file did not give, filled in by the schema:
  assert.equal(resolved.broker.protocolVersion, 5);
  assert.equal(resolved.broker.keepaliveS, 30);
  assert.equal(resolved.shutdown.deadlineMs, 10_000);
  assert.equal(resolved.status.port, 8080);
  assert.equal(resolved.models[0]?.threads, 1);
  const source = resolved.sources[0];
  if (source?.type !== 'folder') return assert.fail(`a folder source, got ${JSON.stringify(source)}`);
  assert.equal(source.stableMs, 300);
  // Relative paths are shown as the agent will use them: next to the config file.
  assert.equal(source.path, join(dir, 'inbox'));
});

test('an environment override shows in the resolved config, and a secret from the environment is redacted too', { timeout: 30_000 }, async (t) => {
  const file = await writeConfig(await tempDir(t), validConfig());
  const r = await checkConfig(file, { EDGE_AGENT__BROKER__URL: 'mqtts://central.example:8883', EDGE_AGENT__BROKER__PASSWORD: 'from-env-pw' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# overridden from the environment: .*EDGE_AGENT__BROKER__URL/m);
  const resolved = parse(r.stdout) as { broker: { url: string; password: string } };
  assert.equal(resolved.broker.url, 'mqtts://central.example:8883');
  assert.equal(resolved.broker.password, '[redacted]');
  assert.ok(!r.stdout.includes('from-env-pw'));
});

test('a config with several errors: every one listed with its path, exit 1, no stack trace; run says the same', { timeout: 30_000 }, async (t) => {
  const file = await writeConfig(await tempDir(t), BROKEN);
  const check = await checkConfig(file);
  assert.equal(check.code, 1);
  assert.equal(check.stdout, '', 'nothing resolved is printed for a broken config');
  assertNoStack(check);
  for (const path of BROKEN_PATHS) assert.match(check.stderr, new RegExp(`^\\s+${path.replaceAll('.', '\\.')}: \\S`, 'm'), `${path} is reported`);

  const run = await runBin('edge-agent', ['run', '--config', file]);
  assert.equal(run.code, 1);
  assertNoStack(run);
  for (const path of BROKEN_PATHS) assert.ok(run.stderr.includes(`  ${path}: `), `run reports ${path} as well`);
});

test('an empty, a non-YAML, a binary or a missing config file: one clear line, exit 1', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const cases: Array<[string, Buffer | string | undefined, RegExp]> = [
    ['empty.yaml', '', /empty/],
    ['settings.ini', '[broker]\nurl = mqtt://127.0.0.1\n[models]\nname = defect\n', /not valid YAML/],
    ['photo.yaml', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]), /mapping/],
    ['missing.yaml', undefined, /not found/],
  ];
  for (const [name, content, why] of cases) {
    const file = join(dir, name);
    if (content !== undefined) await writeFile(file, content);
    const r = await checkConfig(file);
    assertOneLineRefusal(r, file, why);
  }
});

/** Starts `edge-agent run` on a model onnxruntime refuses; asserts it refuses before anything else starts. */
async function assertRefusesModel(dir: string, modelPath: string): Promise<void> {
  // Holding the status port makes the order observable: had the agent got as far as
  // its status server, it would fail on the port instead of on the model.
  const port = await freePort();
  const holder = net.createServer();
  await new Promise<void>((done) => holder.listen(port, '127.0.0.1', done));
  try {
    const config = { ...agentConfig({ deviceId: 'cli-gw02', broker: BROKER, modelPath, statusPort: port }), models: [{ name: 'bad-model', path: modelPath, preprocess: { width: 160, height: 120 } }] };
    const file = await writeConfig(dir, config);
    const r = await runBin('edge-agent', ['run', '--config', file]);
    assert.equal(r.code, 1, `exit code\n${r.stdout}\n${r.stderr}`);
    const fatal = parseLogLines(r.stdout).filter((l) => l.level >= 50);
    assert.equal(fatal.length, 1, `one error line:\n${r.stdout}`);
    const msg = fatal[0]?.msg ?? '';
    assert.ok(msg.includes('"bad-model"') && msg.includes(modelPath), `names the model and its file: ${msg}`);
    assert.match(msg, /could not be loaded: \S/, 'says why');
    assert.doesNotMatch(msg, /E_STATUS_LISTEN|cannot listen/);
    assert.ok(!parseLogLines(r.stdout).some((l) => l.msg === 'status server listening'));
    assert.ok(!existsSync(join(dir, 'agent.db')), 'the store was not opened');
    assert.ok(!existsSync(join(dir, 'inbox')), 'the hot folder was not touched');
  } finally {
    await new Promise((done) => holder.close(done));
  }
}

test('run refuses a model onnxruntime cannot load (random bytes), before starting anything', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const model = join(dir, 'model.onnx');
  // Fixed bytes rather than crypto random: the same garbage every run.
  await writeFile(model, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)));
  await assertRefusesModel(dir, model);
});

test('run refuses pcb-aoi.onnx (an op onnxruntime does not know), before starting anything', { timeout: 30_000 }, async (t) => {
  if (!existsSync(PCB_AOI)) return t.skip(`${PCB_AOI} is absent (shared data not mounted)`);
  await assertRefusesModel(await tempDir(t), PCB_AOI);
});

test('edgectl with no command or an unknown one exits 2 with usage', { timeout: 30_000 }, async () => {
  for (const args of [[], ['frobnicate']]) {
    const r = await runBin('edgectl', args);
    assert.equal(r.code, 2, `edgectl ${args.join(' ')}`);
    assert.match(r.stdout + r.stderr, /Usage:\n\s+edgectl ingest --broker URL --db FILE/);
    if (args.length > 0) assert.match(r.stderr, /unknown command "frobnicate"/);
  }
});
