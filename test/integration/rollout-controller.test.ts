import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RolloutProgress } from '../../central/rollout/progress.js';
import type { ModelRef } from '../../protocol/desired-state.js';
import { openSigned } from '../../protocol/signed-message.js';
import { verifyEnvelope } from '../../protocol/signing.js';
import { rolloutControllerTopic } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { BinProcess } from '../helpers/child.js';
import { brokerArgs, edgectl, makeOpsBench, publishInProcess, retainedOn } from '../helpers/ops-bench.js';
import { SimDevice, type Behaviour } from '../helpers/sim-device.js';
import type { CleanupHost } from '../helpers/tmp.js';

const OLD: ModelRef = { name: 'defect', version: '1.4.0', counter: 7 };
const NEW: ModelRef = { name: 'defect', version: '1.5.0', counter: 8 };

const broker = await startBroker();
after(() => broker.stop());
const bench = await makeOpsBench({ after });
const keyArgs = ['--key', bench.key.keyFile];

interface SimSpec {
  id: string;
  site?: string;
  behaviour: Behaviour;
  paused?: boolean;
}

/** Both versions published under prefix, and one simulated gateway per spec serving 1.4.0. */
async function plant(t: CleanupHost, prefix: string, specs: SimSpec[]): Promise<Record<string, SimDevice>> {
  await publishInProcess(broker, prefix, bench.v140, bench.trust, 'http');
  await publishInProcess(broker, prefix, bench.v150, bench.trust, 'mqtt');
  const sims: Record<string, SimDevice> = {};
  for (const s of specs) {
    const sim = await SimDevice.start({ broker, prefix, id: s.id, site: s.site ?? 'plant-north', serving: [OLD], behaviour: s.behaviour, trust: bench.trust, paused: s.paused ?? false });
    t.after(() => sim.stop());
    sims[s.id] = sim;
  }
  return sims;
}

/** The rollout's retained progress, verified with the operator's key. */
async function progressOf(prefix: string, id: string): Promise<RolloutProgress> {
  const topic = rolloutControllerTopic(prefix, id);
  const payload = (await retainedOn(broker, topic)).get(topic);
  assert.ok(payload, `a progress is retained on ${topic}`);
  const opened = openSigned(RolloutProgress, payload, bench.trust, { maxBytes: 1 << 22 });
  assert.ok(opened.ok, opened.ok ? '' : opened.reason);
  return opened.value;
}

function sim(sims: Record<string, SimDevice>, id: string): SimDevice {
  const s = sims[id];
  assert.ok(s, id);
  return s;
}

test('a two-wave rollout over a site advances wave by wave and ends done', { timeout: 90_000 }, async (t) => {
  const prefix = 't-done/v1';
  const started = Date.now();
  const sims = await plant(t, prefix, [
    { id: 'device-a', behaviour: 'commit' },
    { id: 'device-b', behaviour: 'commit' },
    { id: 'device-z', site: 'plant-south', behaviour: 'commit' },
  ]);
  const r = await edgectl(broker, prefix, ['rollout', 'start', '--model', 'defect@1.5.0', '--target', 'site:plant-north', '--waves', '50%,100%', '--id', 'r-done', ...keyArgs]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /to 2 devices in 2 waves \(50%: 1, 100%: 1\)/);
  assert.match(r.stdout, /wave 1\/2: 1\/1 committed/);
  assert.match(r.stdout, /wave 2\/2: 1\/1 committed/);
  assert.match(r.stdout, /rollout r-done done: 2\/2 devices serve defect 1\.5\.0/);

  // Sorted ids: device-a makes wave 1, device-b wave 2; the other site is not touched.
  const [a, b] = [sim(sims, 'device-a').received, sim(sims, 'device-b').received];
  assert.equal(a.length, 1);
  assert.equal(b.length, 1);
  assert.equal(sim(sims, 'device-z').received.length, 0);
  assert.deepEqual(a[0]!.state.rollout, { id: 'r-done', wave: 1 });
  assert.deepEqual(b[0]!.state.rollout, { id: 'r-done', wave: 2 });
  for (const d of [a[0]!, b[0]!]) {
    assert.deepEqual(d.state.models, [NEW], 'the manifest counter of 1.5.0 as retained on the broker');
    assert.equal(d.state.target.kind, 'device');
    assert.ok(d.state.counter >= started, 'the desired counter is at least the wall clock in ms');
    assert.ok(verifyEnvelope(d.envelope, bench.trust).ok, 'verifies with the operator key');
    const stranger = verifyEnvelope(d.envelope, bench.impostorTrust);
    assert.equal(stranger.ok, false, 'refused by a key that did not sign it');
    assert.equal(stranger.ok ? '' : stranger.code, 'E_BAD_SIGNATURE');
  }
  assert.ok(b[0]!.state.counter > a[0]!.state.counter, 'wave 2 was published after wave 1');

  const p = await progressOf(prefix, 'r-done');
  assert.equal(p.state, 'done');
  assert.deepEqual(p.model, NEW);
  assert.deepEqual(p.targets, ['site:plant-north']);
  assert.deepEqual(p.waves.map((w) => [w.devices, w.state]), [[['device-a'], 'committed'], [['device-b'], 'committed']]);
  assert.deepEqual(p.waves[0]!.outcomes, { 'device-a': { result: 'committed' } });
  assert.equal(p.waves[0]!.counters['device-a'], a[0]!.state.counter);

  const s = await edgectl(broker, prefix, ['rollout', 'status', '--id', 'r-done', '--trust', bench.key.publicKeyFile]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /rollout r-done: done, wave 2\/2/);
  assert.match(s.stdout, /signed by ops-2025 \(verified\)/);
  const json = await edgectl(broker, prefix, ['rollout', 'status', '--id', 'r-done', '--json']);
  assert.equal((JSON.parse(json.stdout) as RolloutProgress).state, 'done');
});

test('a failing first wave halts the rollout before wave 2 and sends the wave back', { timeout: 90_000 }, async (t) => {
  const prefix = 't-halt/v1';
  const sims = await plant(t, prefix, [
    { id: 'device-c', behaviour: 'fail' },
    { id: 'device-d', behaviour: 'commit' },
  ]);
  const args = ['rollout', 'start', '--model', 'defect@1.5.0', '--target', 'device:device-d,device-c', '--waves', '50%,100%', '--halt-on-failure', '20%', '--rollback-failed', '--id', 'r-halt'];
  const r = await edgectl(broker, prefix, [...args, ...keyArgs]);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /rollout r-halt halted: wave 1\/2: 1 of 1 device failed \(100%, the halt limit is 20%\): device-c rolled-back \(smoke test failed/);

  assert.equal(sim(sims, 'device-d').received.length, 0, 'wave 2 never received a desired state');
  const c = sim(sims, 'device-c').received;
  assert.equal(c.length, 2, 'the rollout, then the rollback');
  assert.deepEqual(c[0]!.state.models, [NEW]);
  assert.deepEqual(c[1]!.state.models, [OLD], 'back to 1.4.0 with its own manifest counter');
  assert.equal(c[1]!.state.rollback?.to, '1.4.0');
  assert.match(c[1]!.state.rollback?.reason ?? '', /rollout r-halt halted/);
  assert.ok(c[1]!.state.counter > c[0]!.state.counter);

  const p = await progressOf(prefix, 'r-halt');
  assert.equal(p.state, 'halted');
  assert.equal(p.currentWave, 1);
  assert.equal(p.waves[0]!.state, 'halted');
  assert.equal(p.waves[1]!.publishedAt, undefined);
  assert.match(p.reasons[0] ?? '', /device-c rolled-back/);
  assert.match(p.reasons.join('\n'), /rolled back wave 1: device-c→1\.4\.0/);
  assert.deepEqual(p.waves[0]!.previous, { 'device-c': OLD });

  // Started again with the same id, a halted rollout stays halted and sends nothing.
  const again = await edgectl(broker, prefix, [...args, ...keyArgs]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /rollout r-halt: halted/);
  assert.equal(sim(sims, 'device-d').received.length, 0);
});

test('a controller killed after publishing wave 1 resumes without publishing it again', { timeout: 90_000 }, async (t) => {
  const prefix = 't-restart/v1';
  const sims = await plant(t, prefix, [
    { id: 'device-e', behaviour: 'commit', paused: true },
    { id: 'device-f', behaviour: 'commit', paused: true },
  ]);
  const args = ['rollout', 'start', '--model', 'defect@1.5.0', '--target', 'device:device-e', '--target', 'device:device-f', '--waves', '50%,100%', '--id', 'r-restart', ...keyArgs, ...brokerArgs(broker, prefix)];
  const first = new BinProcess('edgectl', args).cleanupWith(t);
  await first.waitForOutput('wave 1 published', (p) => /wave 1\/2: 0\/1 committed, 1 waiting/.test(p.stdout), 60_000);
  await first.kill9();

  const before = await progressOf(prefix, 'r-restart');
  assert.equal(before.state, 'running');
  assert.ok(before.waves[0]!.publishedAt, 'wave 1 recorded as published');
  const e = sim(sims, 'device-e');
  assert.equal(e.received.length, 1);
  const counter = e.received[0]!.state.counter;
  assert.equal(before.waves[0]!.counters['device-e'], counter);
  assert.equal(sim(sims, 'device-f').received.length, 0);

  await e.resume();
  await sim(sims, 'device-f').resume();
  const second = new BinProcess('edgectl', args).cleanupWith(t);
  const end = await second.exited;
  assert.equal(end.code, 0, second.tail());
  assert.match(second.stdout, /rollout r-restart: resuming at wave 1\/2/);
  assert.doesNotMatch(second.stdout, /wave 1\/2: desired state/, 'wave 1 is not published again');
  assert.match(second.stdout, /rollout r-restart done: 2\/2/);
  assert.deepEqual(e.received.map((d) => d.state.counter), [counter], 'device-e got no new counter');
  assert.deepEqual(sim(sims, 'device-f').received.map((d) => d.state.rollout), [{ id: 'r-restart', wave: 2 }]);
  assert.equal((await progressOf(prefix, 'r-restart')).state, 'done');
});

test('a device that never answers times out and counts as failed', { timeout: 90_000 }, async (t) => {
  const prefix = 't-timeout/v1';
  await plant(t, prefix, [{ id: 'device-h', behaviour: 'silent' }]);
  const r = await edgectl(broker, prefix, ['rollout', 'start', '--model', 'defect@1.5.0', '--target', 'device:device-h', '--waves', '100%', '--wave-timeout', '2s', '--id', 'r-timeout', ...keyArgs]);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /device-h timed-out \(no committed report within 2s \(last reported idle\)\)/);
  const p = await progressOf(prefix, 'r-timeout');
  assert.equal(p.state, 'halted');
  assert.deepEqual(p.waves[0]!.outcomes['device-h']?.result, 'timed-out');
});
