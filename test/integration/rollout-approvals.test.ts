import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../agent/agent.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { generateSigningKey, type GeneratedKey } from '../../central/keys/keygen.js';
import { loadSigner } from '../../central/keys/signer.js';
import { RolloutProgress } from '../../central/rollout/progress.js';
import { pendingDesiredTopic } from '../../protocol/approvals.js';
import type { RolloutReport } from '../../protocol/rollout-state.js';
import { openSigned } from '../../protocol/signed-message.js';
import { addSignature, trustStoreFrom, type Signer, type TrustStore } from '../../protocol/signing.js';
import { desiredStateTopic, deviceTopics, manifestTopic, rolloutControllerTopic } from '../../protocol/topics.js';
import { BinProcess } from '../helpers/child.js';
import { brokerArgs, edgectl, retainedOn } from '../helpers/ops-bench.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from '../helpers/rollout-bench.js';
import { desiredFor, packDefect, PREFIX, publishRetained } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Site plant-a requires two signatures from the approver role (ds-alice, qe-bob) on every
 * desired state its devices take. A real agent in this process, a real broker, the real
 * edgectl for the controller and the approvals.
 */

let bench: RolloutBench;
let keys: Record<'ops' | 'alice' | 'bob' | 'carol', GeneratedKey>;
let signers: Record<'ops' | 'alice' | 'bob', Signer>;
let opsTrust: TrustStore;
let agent: Agent;
let model: string;
const DEVICE = 'gw-approve';

before(async () => {
  bench = await startRolloutBench('rollout-approvals');
  const dir = join(bench.root, 'keys');
  keys = {
    ops: await generateSigningKey('ops', dir),
    alice: await generateSigningKey('ds-alice', dir),
    bob: await generateSigningKey('qe-bob', dir),
    carol: await generateSigningKey('carol', dir),
  };
  signers = { ops: (await loadSigner(keys.ops.keyFile)).signer, alice: (await loadSigner(keys.alice.keyFile)).signer, bob: (await loadSigner(keys.bob.keyFile)).signer };
  const trusted = trustStoreFrom([{ id: 'ops', publicKey: await readFile(keys.ops.publicKeyFile, 'utf8') }]);
  assert.ok(trusted.ok);
  opsTrust = trusted.trust;
  agent = await inProcessAgent(bench, DEVICE, {
    site: 'plant-a',
    rollout: {
      trustedKeys: [keys.ops, keys.alice, keys.bob, keys.carol].map((k) => ({ id: k.keyId, publicKeyFile: k.publicKeyFile })),
      approvals: { roles: { approver: ['ds-alice', 'qe-bob'] }, rules: [{ target: 'site:plant-a', role: 'approver', minSignatures: 2 }] },
      // The same model goes out each time: short, lenient gates keep a loaded machine from failing it.
      shadow: { count: 4 },
      probation: { count: 8, latencyP99Ms: 5000 },
    },
  });
  model = await writeDefectModel(join(bench.root, 'src'));
});

after(async () => {
  await agent?.stop();
  await bench?.close();
});

function serving(): string | undefined {
  return agent.rollout.serving().find((m) => m.name === 'defect')?.version;
}

async function publishVersion(version: string, counter: number): Promise<void> {
  const bundle = await packDefect({ modelFile: model, version, counter, signer: signers.ops, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens });
  await publishRetained(bench.broker.url, bench.broker.protocolVersion, [{ topic: manifestTopic(PREFIX, 'defect', version), payload: JSON.stringify(bundle.envelope) }]);
}

async function retainedReport(): Promise<RolloutReport | undefined> {
  const topic = deviceTopics(PREFIX, DEVICE).rollout;
  const payload = (await retainedOn(bench.broker, topic)).get(topic);
  return payload ? (JSON.parse(payload.toString()) as RolloutReport) : undefined;
}

test('a desired state with one of two required signatures is refused with the reason reported; with both it is taken', { timeout: 60_000 }, async () => {
  await publishVersion('1.1.0', 2);
  const ref = [{ name: 'defect', version: '1.1.0', counter: 2 }];
  const half = addSignature(desiredFor(DEVICE, 10, signers.ops, ref, { rollout: { id: 'by-hand', wave: 1 } }), signers.alice);
  await publishRetained(bench.broker.url, bench.broker.protocolVersion, [{ topic: desiredStateTopic(PREFIX, 'device', DEVICE), payload: JSON.stringify(half) }]);

  const why = /site:plant-a requires 2 signatures from role "approver", found 1 \(ds-alice\); not yet signed by qe-bob; signatures outside the role do not count \(ops\)/;
  await waitFor('the refusal in the rollout report', () => agent.rollout.report.state === 'failed', 20_000);
  assert.match(agent.rollout.report.reason ?? '', why);
  assert.equal(agent.rollout.report.desiredCounter, 10);
  assert.equal(agent.rollout.report.rolloutId, 'by-hand');
  const refused = agent.store.events.list({ kind: 'desired_refused', limit: 10 });
  assert.equal(refused.length, 1);
  assert.match(refused[0]!.message, why);
  assert.deepEqual(refused[0]!.detail, { code: 'E_APPROVAL' });
  await waitFor('central to see the refusal', async () => why.test((await retainedReport())?.reason ?? ''), 20_000, 200);
  assert.equal(serving(), '1.0.0', 'nothing was downloaded or switched');

  // The same desired state, same counter, now with the second approver's signature.
  const full = addSignature(half, signers.bob);
  await publishRetained(bench.broker.url, bench.broker.protocolVersion, [{ topic: desiredStateTopic(PREFIX, 'device', DEVICE), payload: JSON.stringify(full) }]);
  await waitFor('1.1.0 to be committed', () => agent.rollout.report.candidate?.version === '1.1.0' && agent.rollout.report.state === 'committed', 30_000).catch((err: unknown) => {
    throw new Error(`${String(err)}; report ${JSON.stringify(agent.rollout.report)}; events ${JSON.stringify(agent.store.events.list({ limit: 10 }).map((e) => e.message))}`);
  });
  assert.equal(serving(), '1.1.0');
  assert.equal(agent.store.events.list({ kind: 'desired_refused', limit: 10 }).length, 1, 'no further refusal');
});

test('the rollout controller publishes only once two approvers signed; edgectl approve refuses a key outside the role', { timeout: 90_000 }, async (t) => {
  await publishVersion('1.2.0', 3);
  const id = 'approved-1-2-0';
  const desiredTopic = desiredStateTopic(PREFIX, 'device', DEVICE);
  const before = (await retainedOn(bench.broker, desiredTopic)).get(desiredTopic)?.toString();
  const controller = new BinProcess('edgectl', [
    'rollout', 'start', '--model', 'defect@1.2.0', '--target', `device:${DEVICE}`, '--waves', '100%', '--id', id,
    '--key', keys.ops.keyFile, '--approval', 'approver:2', '--approver', keys.alice.publicKeyFile, '--approver', keys.bob.publicKeyFile,
    ...brokerArgs(bench.broker, PREFIX),
  ]).cleanupWith(t);
  await controller.waitForOutput('the controller to wait for approvals', (p) => /0\/1 desired state approved .*signed so far: nobody/.test(p.stdout), 30_000);
  const pendingTopic = pendingDesiredTopic(PREFIX, id, DEVICE);
  assert.ok((await retainedOn(bench.broker, pendingTopic)).has(pendingTopic), 'the pending desired state is retained');
  assert.equal((await retainedOn(bench.broker, desiredTopic)).get(desiredTopic)?.toString(), before, 'nothing is published to the device before approval');

  const approve = (key: GeneratedKey, extra: string[] = []) => edgectl(bench.broker, PREFIX, ['approve', '--rollout', id, '--key', key.keyFile, '--trust', keys.ops.publicKeyFile, ...extra]);
  const outsider = await approve(keys.carol);
  assert.equal(outsider.code, 1, outsider.stderr);
  assert.match(outsider.stderr, /key "carol" is not one of role "approver" of rollout approved-1-2-0 \(ds-alice, qe-bob\) \[E_NOT_APPROVER\]/);
  const wrongModel = await approve(keys.alice, ['--model', 'defect@9.9.9']);
  assert.equal(wrongModel.code, 1);
  assert.match(wrongModel.stderr, /rolls out defect@1\.2\.0, not defect@9\.9\.9; nothing signed/);

  const first = await approve(keys.alice, ['--model', 'defect@1.2.0']);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`${DEVICE}: desired state \\d+, wave 1, models defect 1\\.2\\.0: approved by ds-alice`));
  await controller.waitForOutput('one approval to be seen', (p) => /0\/1 desired state approved .*signed so far: ds-alice\)/.test(p.stdout), 20_000);
  assert.equal((await retainedOn(bench.broker, desiredTopic)).get(desiredTopic)?.toString(), before, 'one approval of two publishes nothing');
  assert.equal(serving(), '1.1.0');

  const second = await approve(keys.bob);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(await controller.exited.then((e) => e.code), 0, controller.tail());
  assert.match(controller.stdout, /1\/1 desired state approved/);
  assert.match(controller.stdout, /rollout approved-1-2-0 done: 1\/1 devices serve defect 1\.2\.0/);
  assert.equal(serving(), '1.2.0');

  const progressTopic = rolloutControllerTopic(PREFIX, id);
  const progress = openSigned(RolloutProgress, (await retainedOn(bench.broker, progressTopic)).get(progressTopic)!, opsTrust, { maxBytes: 1 << 22 });
  assert.ok(progress.ok, progress.ok ? '' : progress.reason);
  assert.deepEqual(progress.value.waves[0]!.approvedBy, { [DEVICE]: ['ds-alice', 'qe-bob'] });
  assert.equal((await retainedOn(bench.broker, pendingTopic)).has(pendingTopic), false, 'the pending state is cleared once published');
  const published = JSON.parse((await retainedOn(bench.broker, desiredTopic)).get(desiredTopic)!.toString()) as { signatures: Array<{ keyId: string }> };
  assert.deepEqual(published.signatures.map((s) => s.keyId), ['ops', 'ds-alice', 'qe-bob']);
});
