import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFleetMessage } from '../../central/fleet/fleet-state.js';
import { age } from '../../central/fleet/fleet-table.js';
import { deliveryPlan } from '../../central/publish/publish.js';
import { UsageError } from '../../central/rollout/command-options.js';
import { nextDesiredCounter } from '../../central/rollout/desired-publisher.js';
import { defaultRolloutId } from '../../central/rollout/plan.js';
import type { WaveProgress } from '../../central/rollout/progress.js';
import { formatTarget, parseTargets, parseWaves, planWaves, resolveTargets } from '../../central/rollout/targets.js';
import { downloadLine } from '../../central/rollout/progress-text.js';
import { judgeWave, type WaveInput } from '../../central/rollout/wave-judge.js';
import type { ModelManifest } from '../../protocol/manifest.js';
import type { RolloutReport, RolloutState } from '../../protocol/rollout-state.js';
import { DEVICE_ID_PATTERN } from '../../protocol/topics.js';

const NEW = { name: 'defect', version: '1.5.0', counter: 8 };
const OLD = { name: 'defect', version: '1.4.0', counter: 7 };

test('waves are cumulative shares of the sorted devices; a share adding nobody makes no wave', () => {
  assert.deepEqual(parseWaves('5%,25%,100%'), [5, 25, 100]);
  const ten = Array.from({ length: 10 }, (_, i) => `gw-${String(i).padStart(2, '0')}`);
  assert.deepEqual(planWaves(ten, [5, 25, 100]).map((w) => w.devices.length), [1, 2, 7]);
  assert.deepEqual(planWaves(['a', 'b'], [5, 25, 100]).map((w) => [w.sharePct, w.devices]), [[5, ['a']], [100, ['b']]]);
  // 7% of 100 is 7 devices, not 8 (0.07 × 100 is 7.000000000000001 in doubles).
  const hundred = Array.from({ length: 100 }, (_, i) => `d${String(i).padStart(3, '0')}`);
  assert.equal(planWaves(hundred, [7, 100])[0]?.devices.length, 7);
  for (const bad of ['5%,25%', '25%,5%,100%', '0%,100%', 'five,100%', '5,100%', '150%']) {
    assert.throws(() => parseWaves(bad), UsageError, bad);
  }
});

test('targets: device lists, sites and groups resolve against the fleet', () => {
  const targets = parseTargets(['device:gw-b,gw-a', 'site:plant-north', 'device:gw-new', 'group:line-3']);
  const rollout = (device: string, group?: string): RolloutReport => ({ ...report(device, 'committed'), ...(group ? { group } : {}) });
  const fleet = new Map([
    ['gw-a', { id: 'gw-a', status: { v: 1 as const, device: 'gw-a', site: 'plant-south', state: 'online' as const, ts: 1 } }],
    ['gw-b', { id: 'gw-b' }],
    ['gw-n1', { id: 'gw-n1', status: { v: 1 as const, device: 'gw-n1', site: 'plant-north', state: 'offline' as const, ts: 1 } }],
    ['gw-l3', { id: 'gw-l3', report: rollout('gw-l3', 'line-3') }],
    ['gw-l4', { id: 'gw-l4', report: rollout('gw-l4', 'line-4') }],
    ['gw-none', { id: 'gw-none', report: rollout('gw-none') }],
  ]);
  assert.deepEqual(resolveTargets(targets, fleet), { devices: ['gw-a', 'gw-b', 'gw-l3', 'gw-n1', 'gw-new'], unknown: ['gw-new'] });
  assert.deepEqual(resolveTargets(parseTargets(['group:line-4']), fleet), { devices: ['gw-l4'], unknown: [] });
  assert.equal(formatTarget(parseTargets(['group:line-3'])[0]!), 'group:line-3');
  assert.throws(() => parseTargets(['group:a,b']), /one group per --target/);
  assert.throws(() => parseTargets(['device:bad id']), UsageError);
  assert.throws(() => parseTargets(['device:models']), /reserved topic level/);
  assert.throws(() => parseTargets([]), /--target/);
});

function report(device: string, state: RolloutState, extra: Partial<RolloutReport> = {}): RolloutReport {
  return { v: 1, device, ts: 1, serving: [OLD], state, lastTransition: { from: 'idle', to: state, at: 1 }, ...extra };
}

function wave(devices: string[], extra: Partial<WaveProgress> = {}): WaveProgress {
  return { wave: 1, sharePct: 100, devices, state: 'waiting', publishedAt: 1000, counters: Object.fromEntries(devices.map((d) => [d, 50])), previous: {}, outcomes: {}, ...extra };
}

function judge(w: WaveProgress, reports: RolloutReport[], over: Partial<WaveInput> = {}) {
  return judgeWave({ rolloutId: 'r1', model: NEW, wave: w, waveCount: 2, reports: new Map(reports.map((r) => [r.device, r])), now: 2000, timeoutMs: 60_000, haltOnFailurePct: 20, ...over });
}

test('a wave advances when every device committed with the version serving', () => {
  const w = wave(['a', 'b']);
  const half = judge(w, [report('a', 'committed', { serving: [NEW] }), report('b', 'probation', { serving: [NEW] })]);
  assert.equal(half.verdict, 'wait');
  assert.equal(half.summary, 'wave 1/2: 1/2 committed, 1 waiting');
  const all = judge(w, [report('a', 'committed', { serving: [NEW] }), report('b', 'idle', { serving: [NEW] })]);
  assert.equal(all.verdict, 'advance');
  assert.equal(all.summary, 'wave 1/2: 2/2 committed');
  // Committed, but to the old version: still waiting.
  assert.equal(judge(w, [report('a', 'committed'), report('b', 'committed')]).verdict, 'wait');
});

test('failures of this rollout halt at the limit; a failure left from another rollout does not count', () => {
  const five = wave(['a', 'b', 'c', 'd', 'e']);
  const one = judge(five, [report('a', 'failed', { rolloutId: 'r1', reason: 'does not load' })]);
  assert.equal(one.verdict, 'halt', '1 of 5 is exactly 20%');
  assert.match(one.reason ?? '', /^wave 1\/2: 1 of 5 devices failed \(20%, the halt limit is 20%\): a failed \(does not load\)$/);
  assert.equal(judge(five, [report('a', 'failed', { rolloutId: 'r1' })], { haltOnFailurePct: 21 }).verdict, 'wait');
  assert.equal(judge(five, [report('a', 'rolled-back', { desiredCounter: 50 })]).verdict, 'halt', 'recognised by the desired counter');
  assert.equal(judge(five, [report('a', 'failed', { rolloutId: 'r0', desiredCounter: 12 })]).verdict, 'wait', 'an old failure');
});

test('devices silent past the wave timeout time out and count as failures', () => {
  const w = wave(['a', 'b']);
  const reports = [report('a', 'committed', { serving: [NEW] }), report('b', 'downloading')];
  assert.equal(judge(w, reports, { now: 60_999 }).verdict, 'wait');
  const late = judge(w, reports, { now: 61_000, haltOnFailurePct: 60 });
  assert.deepEqual(late.outcomes.b, { result: 'timed-out', reason: 'no committed report within 1m (last reported downloading)' });
  assert.equal(late.verdict, 'advance', '1 of 2 is below 60%');
  assert.equal(judge(w, reports, { now: 61_000 }).verdict, 'halt');
  // Outcomes already recorded stay, whatever the reports say later.
  assert.equal(judge(wave(['a'], { outcomes: { a: { result: 'committed' } } }), [report('a', 'failed', { rolloutId: 'r1' })]).verdict, 'advance');
});

test('desired counters rise above the retained one, the last issued one and the clock', () => {
  const now = 1_750_000_000_000;
  assert.equal(nextDesiredCounter(undefined, undefined, now), now);
  assert.equal(nextDesiredCounter(now + 500, undefined, now), now + 501, 'a clock behind the last controller');
  assert.equal(nextDesiredCounter(42, now, now), now + 1, 'twice in the same millisecond');
  assert.throws(() => nextDesiredCounter(Number.MAX_SAFE_INTEGER, undefined, now), /out of range/);
});

test('a default rollout id names model, version and time within one topic level', () => {
  const at = Date.parse('2025-03-01T08:00:00.123Z');
  assert.equal(defaultRolloutId('defect', '1.5.0', at), 'defect-1.5.0-20250301T080000Z');
  const long = defaultRolloutId('m'.repeat(64), '1.0.0-rc.1', at);
  assert.ok(long.length <= 64 && DEVICE_ID_PATTERN.test(long), long);
});

test('delivery: default by the manifest URLs; --url-base never patches a signed manifest', () => {
  const withUrls = { name: 'defect', version: '1.4.0', artifacts: [{ role: 'model', path: 'model.onnx', sha256: 'a'.repeat(64), bytes: 10, urls: ['https://m.example/d/1.4.0/model.onnx'] }] } as unknown as ModelManifest;
  const without = { name: 'defect', version: '1.5.0', artifacts: [{ role: 'model', path: 'model.onnx', sha256: 'b'.repeat(64), bytes: 10, urls: [] }] } as unknown as ModelManifest;
  assert.equal(deliveryPlan(withUrls, undefined, undefined).via, 'http');
  assert.equal(deliveryPlan(without, undefined, undefined).via, 'mqtt');
  assert.equal(deliveryPlan(without, 'both', undefined).via, 'both');
  assert.throws(() => deliveryPlan(without, 'http', undefined), /agents could not fetch it/);
  assert.throws(() => deliveryPlan(without, 'mqtt', 'https://m.example/d'), /SIGNED manifest.*edgectl pack --url-base/);
  assert.match(deliveryPlan(withUrls, undefined, 'https://elsewhere.example').warnings[0] ?? '', /not under --url-base/);
});

test('fleet messages: size, JSON and schema checked; reserved levels and cleared messages ignored', () => {
  const ok = Buffer.from(JSON.stringify(report('gw-1', 'idle')));
  assert.equal(parseFleetMessage('edge/v1', 'edge/v1/gw-1/rollout', ok).kind, 'report');
  assert.equal(parseFleetMessage('edge/v1', 'edge/v1/gw-2/rollout', ok).kind, 'refused', 'report of another device');
  assert.equal(parseFleetMessage('edge/v1', 'edge/v1/rollouts/rollout', ok).kind, 'ignored', 'a rollout named "rollout"');
  assert.equal(parseFleetMessage('edge/v1', 'edge/v1/gw-1/status', Buffer.alloc(0)).kind, 'ignored');
  const big = parseFleetMessage('edge/v1', 'edge/v1/gw-1/status', Buffer.alloc(17 * 1024, 0x20));
  assert.match(big.kind === 'refused' ? big.refused.reason : '', /exceeds the limit/);
  assert.equal(age(42_000), '42s');
  assert.equal(age(3 * 3600_000 + 600_000), '3h');
});

test('download progress from the wave devices, in tenths, only while downloading', () => {
  const wave = { devices: ['gw-a', 'gw-b', 'gw-c'], outcomes: {} } as unknown as WaveProgress;
  const reports = new Map<string, RolloutReport>([
    ['gw-a', report('gw-a', 'downloading', { progress: { bytes: 4_999, total: 10_000 } })],
    ['gw-b', report('gw-b', 'verifying', { progress: { bytes: 10_000, total: 10_000 } })],
    ['gw-c', report('gw-c', 'downloading', { progress: { bytes: 10_000, total: 10_000 } })],
  ]);
  assert.equal(downloadLine('wave 1/2', wave, reports), 'wave 1/2: downloading gw-a 40%, gw-c 100%');
  assert.equal(downloadLine('wave 1/2', wave, new Map()), undefined);
});
