import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'node:test';
import { TABULAR_MODEL, writeTabularModel } from '../../agent/demo/tabular-model.js';
import type { TagBoard } from '../../agent/features/tag-board.js';
import type { TagSample } from '../../agent/features/tag-sample.js';
import { runBin } from '../helpers/child.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { TcpCut } from '../helpers/opcua-proxy.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FEATURES = [
  { tag: 'Vibration', fn: 'mean' },
  { tag: 'Vibration', fn: 'max' },
  { tag: 'Temperature', fn: 'mean' },
  { tag: 'MotorCurrent', fn: 'mean' },
];
const WINDOW = { sizeMs: 1000, everyMs: 500, graceMs: 150, staleMs: 2000 };

function models(path: string) {
  const base = { path, labels: [...TABULAR_MODEL.labels], features: FEATURES };
  return [
    { name: 'bearing', ...base, window: WINDOW },
    // Imputes instead of skipping: its predictions during an outage must carry the reason.
    { name: 'bearing-impute', ...base, window: { ...WINDOW, onMissing: 'impute' } },
  ];
}

/** Every reading the board hands its consumers (windows, validators, triggers), by tag, from now on. */
function recordReadings(board: TagBoard): (tag: string) => TagSample[] {
  const seen = new Map<string, TagSample[]>();
  board.onSample((s) => {
    if (s.gap) return;
    seen.set(s.tag, [...(seen.get(s.tag) ?? []), s]);
  });
  return (tag) => seen.get(tag) ?? [];
}

test('fault 14: OPC-UA server restarted: data resumes, the gap is marked bad and no stale value passes as good', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-f14-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki') });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const path = await writeTabularModel(join(dir, 'models'));
  const s = await startSensorAgent(host, {
    dir,
    config: {
      status: { enabled: false },
      opcua: { pkiDir: 'pki', servers: [{ id: 'plant', endpoint: plant.endpoint, tags: plantTags(['Vibration', 'Temperature', 'Pressure', 'MotorCurrent', 'Setpoint']), reconnect: { minMs: 200, maxMs: 800 } }] },
      sensorModels: models(path),
    },
  });
  const readings = recordReadings(s.agent.opcua.board);
  await waitFor('clean predictions before the restart', () => s.predictions('bearing').length >= 3, 20_000);

  await plant.kill();
  const down = Date.now();
  await waitFor('the link reported lost', () => s.agent.snapshot().opcua!.servers[0]!.state !== 'connected', 5000);
  const view = s.agent.snapshot().opcua!;
  for (const tag of view.tags) {
    assert.equal(tag.quality, 'bad', `${tag.name} while the server is down`);
    assert.equal(tag.status, 'BadNoCommunication');
    assert.equal(tag.value, null);
  }
  const health = s.agent.snapshot().health;
  assert.notEqual(health.state, 'healthy');
  assert.ok(health.reasons.some((r) => r.includes('opcua:plant')), JSON.stringify(health.reasons));
  await sleep(3000);
  await plant.restart();
  const up = Date.now();
  await waitFor('predictions after the restart', () => s.predictions('bearing').some((p) => p.ts > up + 1200 && !p.flags), 20_000);

  const outage = (m: string) => s.predictions(m).filter((p) => p.ts > down && p.ts < up);
  assert.equal(outage('bearing').length, 0, 'the skip policy makes no prediction while the server is gone');
  const imputed = outage('bearing-impute');
  assert.ok(imputed.length >= 3, `impute policy predicted ${imputed.length} windows during the outage`);
  for (const p of imputed) {
    assert.ok(p.flags?.some((f) => f.startsWith('stale:')) && p.flags.some((f) => f.startsWith('imputed:')), `outage prediction flagged: ${JSON.stringify(p.flags)}`);
  }
  // A window reaching back into the gap is flagged even after data resumed.
  assert.ok(s.predictions('bearing-impute').some((p) => p.ts > up && p.flags?.some((f) => f.startsWith('gap:'))), 'the first windows after the restart name the gap');
  assert.equal(s.agent.snapshot().opcua!.servers[0]!.state, 'connected');
  assert.equal(s.agent.snapshot().opcua!.servers[0]!.sessions, 2);
  assert.ok(s.events('opcua_disconnected').length >= 1);
  for (const tag of ['Vibration', 'Temperature']) {
    const r = readings(tag);
    for (let i = 1; i < r.length; i++) assert.ok(r[i]!.sourceTs > r[i - 1]!.sourceTs, `${tag}: readings strictly in source-time order, none twice`);
  }
});

test('fault 15: a silent break longer than the subscription lifetime: subscription recreated, no duplicated samples', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-f15-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki') });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const proxy = new TcpCut(plant.port);
  await proxy.start();
  host.after(() => proxy.stop());
  const path = await writeTabularModel(join(dir, 'models'));
  // Lifetime: 15 × 100 ms = 1.5 s; keep-alive every 500 ms.
  const server = { id: 'plant', endpoint: proxy.endpoint, publishingIntervalMs: 100, maxKeepAliveCount: 5, lifetimeCount: 15, tags: plantTags(['Vibration', 'Temperature', 'MotorCurrent', 'Setpoint']), reconnect: { minMs: 200, maxMs: 800 } };
  const s = await startSensorAgent(host, { dir, config: { opcua: { pkiDir: 'pki', servers: [server] }, sensorModels: models(path) } });
  const readings = recordReadings(s.agent.opcua.board);
  await waitFor('connected with data', () => s.predictions('bearing').length >= 2, 20_000);
  const board = s.agent.opcua.board;
  assert.equal(readings('Setpoint').length, 1);

  proxy.freeze();
  const frozen = Date.now();
  // No FIN, no RST: only the missing keep-alives tell the agent the link is dead.
  await waitFor('the keep-alive watchdog notices', () => s.agent.snapshot().opcua!.servers[0]!.state !== 'connected', 10_000);
  await sleep(Math.max(0, 4000 - (Date.now() - frozen)));
  proxy.restore();
  const restored = Date.now();
  await waitFor('a new session with data', () => s.agent.snapshot().opcua!.servers[0]!.sessions === 2 && s.predictions('bearing').some((p) => p.ts > restored + 1200), 20_000);

  // The setpoint never changed: the new subscription sent the same reading again, and it was dropped.
  assert.equal(readings('Setpoint').length, 1, 'the setpoint reading is handed on once');
  assert.ok(board.tags.get('Setpoint')!.duplicates >= 1, 'the repeated initial value was recognised');
  for (const tag of ['Vibration', 'Temperature', 'MotorCurrent']) {
    const r = readings(tag);
    assert.ok(r.length >= 10, `${tag}: ${r.length} readings`);
    const stamps = r.map((x) => x.sourceTs);
    assert.equal(new Set(stamps).size, stamps.length, `${tag}: no source timestamp twice`);
    for (let i = 1; i < r.length; i++) assert.ok(r[i]!.sourceTs > r[i - 1]!.sourceTs, `${tag}: in order`);
  }
  const windows = s.predictions('bearing').map((p) => p.ts);
  assert.equal(new Set(windows).size, windows.length, 'each window predicted once');
  // Held values count for staleMs after the last word from the server, then never.
  assert.equal(s.predictions('bearing').filter((p) => p.ts > frozen + WINDOW.staleMs + 300 && p.ts < restored).length, 0, 'nothing predicted from the frozen link once stale');
  const lost = s.events('opcua_disconnected').at(-1)!;
  assert.match(lost.message, /no notification or keep-alive for \d+ ms/);
});

test('fault 16: an untrusted server certificate is refused, filed under rejected/, one log line says how to trust it; trusting it connects', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-f16-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki') });
  const path = await writeTabularModel(join(dir, 'models'));
  const log = new PassThrough();
  let lines = '';
  log.setEncoding('utf8').on('data', (d: string) => (lines += d));
  const s = await startSensorAgent(host, {
    dir,
    logLevel: 'info',
    logTo: log,
    config: {
      opcua: { pkiDir: 'pki', servers: [{ id: 'plant', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Aes256_Sha256_RsaPss', tags: plantTags(['Vibration', 'Temperature', 'MotorCurrent']), reconnect: { minMs: 200, maxMs: 500 } }] },
      sensorModels: models(path).slice(0, 1),
    },
  });
  await waitFor('the link refused', () => s.agent.snapshot().opcua!.servers[0]!.state === 'refused', 15_000);
  const rejected = join(dir, 'pki', 'rejected');
  const files = readdirSync(rejected).filter((f) => f.endsWith('.pem'));
  assert.equal(files.length, 1, 'the server certificate is filed under rejected/');
  await sleep(1500);
  const hints = lines.split('\n').filter((l) => l.includes('untrusted certificate'));
  assert.equal(hints.length, 1, `one log line, however often the agent retries:\n${hints.join('\n')}`);
  const hint = JSON.parse(hints[0]!) as { msg: string; level: number };
  assert.equal(hint.level, 50);
  const command = /to trust it run: (edge-agent opcua trust --pki \S+ [0-9a-f]{16})$/.exec(hint.msg);
  assert.ok(command, hint.msg);
  assert.ok(hint.msg.includes(join(dir, 'pki', 'rejected', files[0]!)), 'the line names the filed certificate');
  assert.equal(s.predictions().length, 0, 'no data from a server nobody trusted');
  assert.ok(s.events('opcua_certificate_rejected').length === 1);
  assert.ok(!existsSync(join(dir, 'pki', 'trusted', 'certs', files[0]!)));

  const listed = await runBin('edge-agent', ['opcua', 'trust', '--pki', join(dir, 'pki')]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /edge-agent simulated plant/);
  const thumb = listed.stdout.trim().split(/\s+/)[0]!;
  assert.match(thumb, /^[0-9a-f]{40}$/);
  assert.ok(command[1]!.endsWith(` ${thumb.slice(0, 16)}`), 'the logged command names the certificate listed');
  // The command exactly as logged, split as a shell would split it.
  const trusted = await runBin('edge-agent', command[1]!.split(' ').slice(1));
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.match(trusted.stdout, /^trusted .*edge-agent simulated plant/);
  assert.ok(existsSync(join(dir, 'pki', 'trusted', 'certs', files[0]!)));
  await waitFor('connected once trusted, without a restart', () => s.agent.snapshot().opcua!.servers[0]!.state === 'connected', 15_000);
  await waitFor('predictions', () => s.predictions('bearing').length > 0, 10_000);
  const again = await runBin('edge-agent', ['opcua', 'trust', '--pki', join(dir, 'pki'), 'deadbeefdead']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no rejected certificate matches "deadbeefdead"; rejected: none/);
});
