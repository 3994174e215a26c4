import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ModelRef } from '../../protocol/desired-state.js';
import { verifyEnvelope } from '../../protocol/signing.js';
import { startBroker } from '../helpers/broker.js';
import { edgectl, makeOpsBench, publishInProcess } from '../helpers/ops-bench.js';
import { SimDevice } from '../helpers/sim-device.js';

const OLD: ModelRef = { name: 'defect', version: '1.4.0', counter: 7 };
const NEW: ModelRef = { name: 'defect', version: '1.5.0', counter: 8 };

const broker = await startBroker();
after(() => broker.stop());
const bench = await makeOpsBench({ after });
const keyArgs = ['--key', bench.key.keyFile];

test('rollback sends a device to the previous published version, naming its older manifest counter', { timeout: 90_000 }, async (t) => {
  const prefix = 'rb/v1';
  await publishInProcess(broker, prefix, bench.v140, bench.trust, 'http');
  await publishInProcess(broker, prefix, bench.v150, bench.trust, 'mqtt');
  const start = (id: string, site: string) => SimDevice.start({ broker, prefix, id, site, serving: [NEW], behaviour: 'commit', trust: bench.trust });
  const g = await start('device-g', 'plant-north');
  const k = await start('device-k', 'plant-east');
  const m = await start('device-m', 'plant-east');
  t.after(() => Promise.all([g.stop(), k.stop(), m.stop()]));

  // Without --to: the highest published version below the one the device serves.
  const r = await edgectl(broker, prefix, ['rollback', '--target', 'device:device-g', '--model', 'defect', '--reason', 'misses scratches on line 3', ...keyArgs]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /rolled back device-g: defect 1\.4\.0 \(manifest counter 7\), desired state \d+ on rb\/v1\/desired\/device\/device-g/);
  assert.equal(g.received.length, 1);
  const d = g.received[0]!;
  assert.deepEqual(d.state.models, [OLD]);
  assert.deepEqual(d.state.rollback, { name: 'defect', to: '1.4.0', reason: 'misses scratches on line 3' });
  assert.deepEqual(d.state.target, { kind: 'device', id: 'device-g' });
  assert.ok(verifyEnvelope(d.envelope, bench.trust).ok);
  assert.equal(verifyEnvelope(d.envelope, bench.impostorTrust).ok, false);

  // A site: one desired state per device there, each with a fresh, higher counter.
  const site = await edgectl(broker, prefix, ['rollback', '--target', 'site:plant-east', '--model', 'defect', '--to', '1.4.0', ...keyArgs]);
  assert.equal(site.code, 0, site.stderr);
  for (const s of [k, m]) {
    assert.equal(s.received.length, 1);
    assert.deepEqual(s.received[0]!.state.models, [OLD]);
    assert.equal(s.received[0]!.state.rollback?.to, '1.4.0');
  }
  assert.equal(g.received.length, 1, 'the other site is not touched');

  // Again on device-g: the new counter is above the retained one.
  const second = await edgectl(broker, prefix, ['rollback', '--target', 'device:device-g', '--model', 'defect', '--to', '1.4.0', ...keyArgs]);
  assert.equal(second.code, 0, second.stderr);
  assert.ok(g.received[1]!.state.counter > d.state.counter);

  // A version that was never published cannot be rolled back to: nothing is sent.
  const missing = await edgectl(broker, prefix, ['rollback', '--target', 'device:device-g', '--model', 'defect', '--to', '1.3.0', ...keyArgs]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nothing was published: no verified manifest of defect 1\.3\.0 .*publish its bundle first/);
  assert.equal(g.received.length, 2);

  // device-g now serves 1.4.0 and nothing older is published: "previous" does not exist.
  const none = await edgectl(broker, prefix, ['rollback', '--target', 'device:device-g', '--model', 'defect', ...keyArgs]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /device-g: serves defect 1\.4\.0 and no lower version is published; give --to VERSION/);
});

test('rollback refuses bad arguments with one line and exit 2', { timeout: 30_000 }, async () => {
  for (const args of [
    ['rollback', '--model', 'defect', ...keyArgs],
    ['rollback', '--target', 'group:line-3,line-4', '--model', 'defect', ...keyArgs],
    ['rollback', '--target', 'device:device-g', '--model', 'defect', '--to', '1.4', ...keyArgs],
    ['rollback', '--target', 'device:device-g', '--model', 'defect'],
  ]) {
    const r = await edgectl(broker, 'rb-usage/v1', args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
