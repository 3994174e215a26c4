import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { Ingest } from '../../central/ingest.js';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import type { DeviceStatus } from '../../protocol/status.js';
import { deviceTopics } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { edgectl, putRetained } from '../helpers/ops-bench.js';
import { tempDir } from '../helpers/tmp.js';

const broker = await startBroker();
after(() => broker.stop());

const PREFIX = 'fleet/v1';
const NOW = Date.now();

function status(device: string, site: string, state: DeviceStatus['state']): { topic: string; payload: string } {
  const s: DeviceStatus = { v: 1, device, site, state, ts: NOW - 5000, agentVersion: '0.1.0' };
  return { topic: deviceTopics(PREFIX, device).status, payload: JSON.stringify(s) };
}

function report(device: string, r: Pick<RolloutReport, 'state' | 'serving'> & Partial<RolloutReport>): { topic: string; payload: string } {
  const full: RolloutReport = { v: 1, device, ts: NOW - 2000, lastTransition: { from: 'probation', to: r.state, at: NOW - 2000 }, ...r };
  return { topic: deviceTopics(PREFIX, device).rollout, payload: JSON.stringify(full) };
}

const v150 = { name: 'defect', version: '1.5.0', counter: 8 };
const v140 = { name: 'defect', version: '1.4.0', counter: 7 };
const FAILURE = 'smoke test failed: the model outputs NaN for 3 of 3 golden images, so the candidate was never switched in';

await putRetained(broker, [
  status('device-a', 'plant-north', 'online'),
  report('device-a', { state: 'committed', serving: [v150], rolloutId: 'r1' }),
  status('device-c', 'plant-north', 'online'),
  report('device-c', { state: 'rolled-back', serving: [v140], candidate: v150, reason: FAILURE, lastTransition: { from: 'smoke-test', to: 'rolled-back', at: NOW - 2000 } }),
  status('device-o', 'plant-south', 'offline'),
  // Garbage a fleet view must refuse without falling over.
  { topic: `${PREFIX}/device-x/status`, payload: 'garbage{' },
  { topic: `${PREFIX}/device-y/rollout`, payload: Buffer.alloc(20 * 1024, 0x7b) },
  { topic: `${PREFIX}/device-w/status`, payload: JSON.stringify({ v: 1, device: 'someone-else', state: 'online', ts: 1 }) },
]);

/** The table line of one device, split into its columns (two or more spaces apart). */
function row(stdout: string, device: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith(`${device} `));
  assert.ok(line, `a line for ${device} in\n${stdout}`);
  return line.split(/ {2,}/);
}

test('fleet prints each device with its site, status, serving version, rollout state and age, and refuses garbage', { timeout: 30_000 }, async () => {
  const r = await edgectl(broker, PREFIX, ['fleet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.split('\n')[0] ?? '', /^DEVICE\s+SITE\s+STATUS\s+SERVING\s+ROLLOUT\s+LAST SEEN$/);
  const a = row(r.stdout, 'device-a');
  assert.deepEqual(a.slice(0, 5), ['device-a', 'plant-north', 'online', 'defect@1.5.0', 'committed']);
  assert.match(a[5] ?? '', /^\d+s ago$/);
  const c = row(r.stdout, 'device-c');
  assert.deepEqual(c.slice(0, 4), ['device-c', 'plant-north', 'online', 'defect@1.4.0']);
  assert.match(c[4] ?? '', /^rolled-back defect@1\.5\.0 \(smoke test failed: the model outputs NaN for 3 of 3 golden…\)$/);
  const o = row(r.stdout, 'device-o');
  assert.deepEqual(o.slice(0, 5), ['device-o', 'plant-south', 'offline', '-', '-']);
  assert.match(o[5] ?? '', /^\d+s ago$/);
  for (const bad of ['device-x', 'device-y', 'device-w']) assert.ok(!r.stdout.includes(bad), `${bad} is not shown`);

  const warnings = r.stderr.trim().split('\n');
  assert.equal(warnings.length, 3, r.stderr);
  assert.match(r.stderr, /warning: refused the retained message on fleet\/v1\/device-x\/status: not JSON/);
  assert.match(r.stderr, /warning: refused the retained message on fleet\/v1\/device-y\/rollout: payload of 20480 bytes exceeds the limit of 16384/);
  assert.match(r.stderr, /warning: refused the retained message on fleet\/v1\/device-w\/status: status of device "someone-else" on the topic of "device-w"/);
});

test('fleet --json gives the whole reason, and --db adds when ingest last heard from each device', { timeout: 30_000 }, async (t) => {
  const dir = await tempDir(t);
  const db = join(dir, 'central.db');
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: db, topicPrefix: PREFIX, protocolVersion: broker.protocolVersion, clientId: 'unused', log: pino({ level: 'silent' }) });
  // device-q sent predictions an hour ago and has no retained status any more.
  ingest.database.prepare('INSERT INTO devices (device, site, last_seq, updated_at) VALUES (?, ?, ?, ?)').run('device-q', 'plant-west', 41, NOW - 3_600_000);
  await ingest.stop();

  const r = await edgectl(broker, PREFIX, ['fleet', '--json', '--db', db]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<{ device: string; site: string | null; status: string; serving: string[]; rollout: { state: string; reason?: string } | null; lastSeenAgeS: number | null }>;
  assert.deepEqual(rows.map((x) => x.device), ['device-a', 'device-c', 'device-o', 'device-q']);
  const c = rows.find((x) => x.device === 'device-c');
  assert.equal(c?.rollout?.reason, FAILURE);
  const q = rows.find((x) => x.device === 'device-q');
  assert.equal(q?.status, 'unknown');
  assert.equal(q?.site, 'plant-west');
  assert.ok(q && q.lastSeenAgeS !== null && Math.abs(q.lastSeenAgeS - 3600) < 60, `about an hour: ${q?.lastSeenAgeS}`);

  const missing = await edgectl(broker, PREFIX, ['fleet', '--db', join(dir, 'nope.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot open the ingest database .*nope\.db/);
});
