import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { GeneratedKey } from '../../central/keys/keygen.js';
import { RolloutProgress } from '../../central/rollout/progress.js';
import { pendingDesiredTopic } from '../../protocol/approvals.js';
import { openSigned } from '../../protocol/signed-message.js';
import { desiredStateTopic, rolloutControllerTopic } from '../../protocol/topics.js';
import { startApprovalSite, type ApprovalSite } from '../helpers/approval-site.js';
import { BinProcess } from '../helpers/child.js';
import { brokerArgs, edgectl, retainedOn } from '../helpers/ops-bench.js';
import { PREFIX } from '../helpers/rollout-rig.js';

/*
 * The rollout controller and edgectl approve, as real processes, against a real agent of
 * plant-a (which requires two approver signatures) in this process and a real broker.
 */

let site: ApprovalSite;
const DEVICE = 'gw-approve';

before(async () => {
  site = await startApprovalSite('rollout-approval-controller', DEVICE);
});
after(() => site?.close());

test('the rollout controller publishes only once two approvers signed, also after a restart while waiting; edgectl approve refuses a key outside the role and another model', { timeout: 90_000 }, async (t) => {
  await site.publishVersion('1.2.0', 3);
  const id = 'approved-1-2-0';
  const desiredTopic = desiredStateTopic(PREFIX, 'device', DEVICE);
  const before = (await retainedOn(site.bench.broker, desiredTopic)).get(desiredTopic)?.toString();
  const controller = new BinProcess('edgectl', [
    'rollout', 'start', '--model', 'defect@1.2.0', '--target', `device:${DEVICE}`, '--waves', '100%', '--id', id,
    '--key', site.keys.ops.keyFile, '--approval', 'approver:2', '--approver', site.keys.alice.publicKeyFile, '--approver', site.keys.bob.publicKeyFile,
    ...brokerArgs(site.bench.broker, PREFIX),
  ]).cleanupWith(t);
  await controller.waitForOutput('the controller to wait for approvals', (p) => /0\/1 desired state approved .*signed so far: nobody/.test(p.stdout), 30_000);
  const pendingTopic = pendingDesiredTopic(PREFIX, id, DEVICE);
  assert.ok((await retainedOn(site.bench.broker, pendingTopic)).has(pendingTopic), 'the pending desired state is retained');
  assert.equal((await retainedOn(site.bench.broker, desiredTopic)).get(desiredTopic)?.toString(), before, 'nothing is published to the device before approval');

  const approve = (key: GeneratedKey, extra: string[] = []) => edgectl(site.bench.broker, PREFIX, ['approve', '--rollout', id, '--key', key.keyFile, '--trust', site.keys.ops.publicKeyFile, ...extra]);
  const [outsider, wrongModel] = await Promise.all([approve(site.keys.carol), approve(site.keys.alice, ['--model', 'defect@9.9.9'])]);
  assert.equal(outsider.code, 1, outsider.stderr);
  assert.match(outsider.stderr, /key "carol" is not one of role "approver" of rollout approved-1-2-0 \(ds-alice, qe-bob\) \[E_NOT_APPROVER\]/);
  assert.equal(wrongModel.code, 1);
  assert.match(wrongModel.stderr, /rolls out defect@1\.2\.0, not defect@9\.9\.9; nothing signed/);

  const first = await approve(site.keys.alice, ['--model', 'defect@1.2.0']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`${DEVICE}: desired state \\d+, wave 1, models defect 1\\.2\\.0: approved by ds-alice`));
  await controller.waitForOutput('one approval to be seen', (p) => /0\/1 desired state approved .*signed so far: ds-alice\)/.test(p.stdout), 20_000);
  assert.equal((await retainedOn(site.bench.broker, desiredTopic)).get(desiredTopic)?.toString(), before, 'one approval of two publishes nothing');
  assert.equal(site.serving(), '1.0.0');

  // Killed while waiting: the pending state and the approval given so far are retained, and a resumed controller goes on with them.
  await controller.kill9();
  const status = await edgectl(site.bench.broker, PREFIX, ['rollout', 'status', '--id', id, '--key', site.keys.ops.keyFile]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /each wave waits for 2 approvals from role "approver" \(ds-alice, qe-bob\)/);
  assert.match(status.stdout, new RegExp(`${DEVICE} waiting for approval`));
  const resumed = new BinProcess('edgectl', ['rollout', 'resume', '--id', id, '--key', site.keys.ops.keyFile, ...brokerArgs(site.bench.broker, PREFIX)]).cleanupWith(t);
  await resumed.waitForOutput('the resumed controller to count the earlier approval', (p) => /0\/1 desired state approved .*signed so far: ds-alice\)/.test(p.stdout), 30_000);

  const second = await approve(site.keys.bob);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(await resumed.exited.then((e) => e.code), 0, resumed.tail());
  assert.match(resumed.stdout, /1\/1 desired state approved/);
  assert.match(resumed.stdout, /rollout approved-1-2-0 done: 1\/1 devices serve defect 1\.2\.0/);
  assert.equal(site.serving(), '1.2.0');
  const done = await edgectl(site.bench.broker, PREFIX, ['rollout', 'status', '--id', id, '--key', site.keys.ops.keyFile]);
  assert.match(done.stdout, new RegExp(`${DEVICE} committed, approved by ds-alice, qe-bob`));

  const progressTopic = rolloutControllerTopic(PREFIX, id);
  const progress = openSigned(RolloutProgress, (await retainedOn(site.bench.broker, progressTopic)).get(progressTopic)!, site.opsTrust, { maxBytes: 1 << 22 });
  assert.ok(progress.ok, progress.ok ? '' : progress.reason);
  assert.deepEqual(progress.value.waves[0]!.approvedBy, { [DEVICE]: ['ds-alice', 'qe-bob'] });
  assert.equal((await retainedOn(site.bench.broker, pendingTopic)).has(pendingTopic), false, 'the pending state is cleared once published');
  const published = JSON.parse((await retainedOn(site.bench.broker, desiredTopic)).get(desiredTopic)!.toString()) as { signatures: Array<{ keyId: string }> };
  assert.deepEqual(published.signatures.map((s) => s.keyId), ['ops', 'ds-alice', 'qe-bob']);
});
