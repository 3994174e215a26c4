import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import { addSignature } from '../../protocol/signing.js';
import { desiredStateTopic, deviceTopics } from '../../protocol/topics.js';
import { startApprovalSite, type ApprovalSite } from '../helpers/approval-site.js';
import { BinProcess } from '../helpers/child.js';
import { brokerArgs, edgectl, retainedOn } from '../helpers/ops-bench.js';
import { desiredFor, PREFIX, publishRetained } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Site plant-a requires two signatures from the approver role (ds-alice, qe-bob) on every
 * desired state its devices take; a real agent of plant-a in this process, a real broker.
 */

let site: ApprovalSite;
const DEVICE = 'gw-approve';

before(async () => {
  site = await startApprovalSite('rollout-approvals', DEVICE);
});
after(() => site?.close());

async function retainedReport(): Promise<RolloutReport | undefined> {
  const topic = deviceTopics(PREFIX, DEVICE).rollout;
  const payload = (await retainedOn(site.bench.broker, topic)).get(topic);
  return payload ? (JSON.parse(payload.toString()) as RolloutReport) : undefined;
}

test('a desired state with one of two required signatures is refused with the reason reported; with both it is taken', { timeout: 60_000 }, async () => {
  await site.publishVersion('1.1.0', 2);
  const ref = [{ name: 'defect', version: '1.1.0', counter: 2 }];
  const half = addSignature(desiredFor(DEVICE, 10, site.signers.ops, ref, { rollout: { id: 'by-hand', wave: 1 } }), site.signers.alice);
  await publishRetained(site.bench.broker.url, site.bench.broker.protocolVersion, [{ topic: desiredStateTopic(PREFIX, 'device', DEVICE), payload: JSON.stringify(half) }]);

  const why = /site:plant-a requires 2 signatures from role "approver", found 1 \(ds-alice\); not yet signed by qe-bob; signatures outside the role do not count \(ops\)/;
  await waitFor('the refusal in the rollout report', () => site.agent.rollout.report.state === 'failed', 20_000);
  assert.match(site.agent.rollout.report.reason ?? '', why);
  assert.equal(site.agent.rollout.report.desiredCounter, 10);
  assert.equal(site.agent.rollout.report.rolloutId, 'by-hand');
  const refused = site.agent.store.events.list({ kind: 'desired_refused', limit: 10 });
  assert.equal(refused.length, 1);
  assert.match(refused[0]!.message, why);
  assert.deepEqual(refused[0]!.detail, { code: 'E_APPROVAL' });
  await waitFor('central to see the refusal', async () => why.test((await retainedReport())?.reason ?? ''), 20_000, 200);
  assert.equal(site.serving(), '1.0.0', 'nothing was downloaded or switched');

  // The same desired state, same counter, now with the second approver's signature.
  const full = addSignature(half, site.signers.bob);
  await publishRetained(site.bench.broker.url, site.bench.broker.protocolVersion, [{ topic: desiredStateTopic(PREFIX, 'device', DEVICE), payload: JSON.stringify(full) }]);
  await waitFor('1.1.0 to be committed', () => site.agent.rollout.report.candidate?.version === '1.1.0' && site.agent.rollout.report.state === 'committed', 30_000).catch((err: unknown) => {
    throw new Error(`${String(err)}; report ${JSON.stringify(site.agent.rollout.report)}; events ${JSON.stringify(site.agent.store.events.list({ limit: 10 }).map((e) => e.message))}`);
  });
  assert.equal(site.serving(), '1.1.0');
  assert.equal(site.agent.store.events.list({ kind: 'desired_refused', limit: 10 }).length, 1, 'no further refusal');
});

test('a rollout started without approvals halts on such a site, with the agent\'s reason in the controller\'s output', { timeout: 60_000 }, async () => {
  await site.publishVersion('1.3.0', 4);
  const r = await edgectl(site.bench.broker, PREFIX, ['rollout', 'start', '--model', 'defect@1.3.0', '--target', `device:${DEVICE}`, '--waves', '100%', '--halt-on-failure', '100%', '--id', 'unapproved', '--key', site.keys.ops.keyFile]);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /rollout unapproved halted: wave 1\/1: 1 of 1 device failed .*gw-approve failed \(desired state \d+ for device "gw-approve" refused: site:plant-a requires 2 signatures from role "approver", found 0; not yet signed by ds-alice, qe-bob; signatures outside the role do not count \(ops\)\)/);
  assert.equal(site.serving(), '1.1.0');
});

test('a rollback to such a site waits for the same approvals; two approvers signing at once are both counted', { timeout: 60_000 }, async (t) => {
  await site.publishVersion('1.0.1', 1);
  const keys = site.keys;
  const rollback = new BinProcess('edgectl', [
    'rollback', '--target', `device:${DEVICE}`, '--model', 'defect', '--to', '1.0.1', '--reason', 'misses scratches on line 3', '--id', 'back-to-1-0-1',
    '--approval', 'approver:2', '--approver', keys.alice.publicKeyFile, '--approver', keys.bob.publicKeyFile, '--key', keys.ops.keyFile, ...brokerArgs(site.bench.broker, PREFIX),
  ]).cleanupWith(t);
  await rollback.waitForOutput('the rollback to wait for approvals', (p) => /0\/1 desired state approved/.test(p.stdout), 30_000);
  const approve = (key: typeof keys.alice) => edgectl(site.bench.broker, PREFIX, ['approve', '--rollout', 'back-to-1-0-1', '--key', key.keyFile, '--trust', keys.ops.publicKeyFile]);
  const [a, b] = await Promise.all([approve(keys.alice), approve(keys.bob)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stdout, /models defect 1\.0\.1, a rollback to 1\.0\.1 \(misses scratches on line 3\): approved by ds-alice/);
  assert.equal(await rollback.exited.then((e) => e.code), 0, rollback.tail());
  assert.match(rollback.stdout, /rollout back-to-1-0-1 done: 1\/1 devices serve defect 1\.0\.1/);
  assert.equal(site.serving(), '1.0.1');
  const topic = desiredStateTopic(PREFIX, 'device', DEVICE);
  const published = JSON.parse((await retainedOn(site.bench.broker, topic)).get(topic)!.toString()) as { payload: { rollback?: unknown }; signatures: Array<{ keyId: string }> };
  assert.deepEqual(published.payload.rollback, { name: 'defect', to: '1.0.1', reason: 'misses scratches on line 3' });
  assert.deepEqual(published.signatures.map((s) => s.keyId).sort(), ['ds-alice', 'ops', 'qe-bob']);
});
