import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { writeFailingModel } from '../helpers/failing-models.js';
import { startFlakyServer } from '../helpers/flaky-http.js';
import { packDefect, publishRetained, rolloutMessages } from '../helpers/rollout-rig.js';
import { bundlesIntact, persisted, settledAfterRestart, startSwitchRig, type SwitchRig } from '../helpers/switch-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Fault 2: kill -9 in every step of a model switch. Each run kills the agent process at one
 * named point (EDGE_AGENT_KILL_AT, a real SIGKILL the process sends itself), starts it again
 * and checks that exactly one complete model serves and what it reports is the truth.
 */

let rig: SwitchRig;
before(async () => {
  rig = await startSwitchRig('rollout-kill');
});
after(() => rig?.close());

const GOOD_POINTS = [
  { at: 'rollout:download', step: 'download' },
  { at: 'rollout:verify', step: 'verify' },
  { at: 'rollout:load', step: 'load' },
  { at: 'rollout:smoke-test', step: 'smoke-test' },
  { at: 'rollout:shadow', step: 'shadow' },
  { at: 'rollout:switch', step: 'switch' },
  { at: 'rollout:swapped', step: 'switch' },
  { at: 'rollout:probation', step: 'probation' },
  { at: 'rollout:judged', step: 'probation' },
  { at: 'rollout:committed', step: undefined },
] as const;

let counter = 10;
let modelFile: string;

for (const [i, point] of GOOD_POINTS.entries()) {
  test(`kill -9 at ${point.at}: after the restart the new model is committed and alone serves`, { timeout: 60_000 }, async () => {
    modelFile ??= await writeDefectModel(join(rig.root, 'src-good'));
    const d = await rig.device(`kill-${i}`);
    const version = `2.${i}.0`;
    const bundle = await packDefect({ modelFile, version, counter: ++counter, signer: rig.ops.signer, root: rig.bundles, urlBase: rig.server.url, goldens: rig.goldens });
    const first = rig.spawn(d, point.at);
    await first.ready();
    await publishRetained(rig.broker.url, rig.broker.protocolVersion, rolloutMessages(bundle, d.id, 1, rig.ops.signer));
    const exit = await Promise.race([first.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 30_000))]);
    assert.notEqual(exit, 'alive', `the agent did not reach ${point.at}\n${first.tail()}`);
    assert.equal((exit as { signal: string | null }).signal, 'SIGKILL');

    const killed = persisted(d);
    assert.equal(killed.integrity, 'ok');
    assert.equal(killed.job?.step, point.step, `killed during step ${point.step ?? '(none: committed)'}`);
    if (point.at === 'rollout:committed') assert.deepEqual(killed.serving, { counter, state: 'committed' });

    const { after } = await settledAfterRestart(rig, d, version, 'committed');
    assert.deepEqual(after.serving, { counter, state: 'committed' });
    assert.deepEqual(after.failed, []);
    await bundlesIntact(d);
  });
}

test('kill -9 during probation of a model whose confidence collapses: after the restart it is rolled back with the reason', { timeout: 60_000 }, async () => {
  // Shadow agreement off, so the model gets as far as probation, where it is judged against
  // the serving model's confidence seen in shadow, which must survive the restart.
  const d = await rig.device('kill-collapsed', { shadow: { count: 8, minAgreement: 0 } });
  const collapsed = await writeFailingModel(join(rig.root, 'src-collapsed'), 'collapsed');
  const bundle = await packDefect({ modelFile: collapsed, version: '3.0.0-collapsed', counter: 90, signer: rig.ops.signer, root: rig.bundles, urlBase: rig.server.url, goldens: [] });
  const first = rig.spawn(d, 'rollout:probation');
  await first.ready();
  await publishRetained(rig.broker.url, rig.broker.protocolVersion, rolloutMessages(bundle, d.id, 1, rig.ops.signer));
  const exit = await Promise.race([first.exited, new Promise<'alive'>((r) => setTimeout(() => r('alive'), 30_000))]);
  assert.notEqual(exit, 'alive', `the agent did not reach probation\n${first.tail()}`);
  const killed = persisted(d);
  assert.deepEqual(killed.serving, { counter: 90, state: 'probation' }, 'killed with the collapsed model serving on probation');

  const { after, status } = await settledAfterRestart(rig, d, '1.0.0', 'rolled-back');
  assert.equal(after.serving, undefined, "the config's model serves again");
  assert.equal(after.failed.length, 1);
  assert.match(after.failed[0]!.reason, /confidence collapsed/);
  assert.match(status.models[0]!.rollout.reason ?? '', /confidence collapsed/);
});

test('kill -9 in the middle of a download: the restart resumes it with a Range request and commits', { timeout: 60_000 }, async (t) => {
  const d = await rig.device('kill-download');
  const model = await writeDefectModel(join(rig.root, 'src-dl'));
  const body = await readFile(model);
  const half = Math.floor(body.length / 2);
  const flaky = await startFlakyServer(t, body, (n) => (n === 0 ? { kind: 'stall', afterBytes: half } : { kind: 'ok' }));
  const bundle = await packDefect({ modelFile: model, version: '4.0.0', counter: 100, signer: rig.ops.signer, root: rig.bundles, urlBase: flaky.url, goldens: rig.goldens });
  const first = rig.spawn(d);
  await first.ready();
  await publishRetained(rig.broker.url, rig.broker.protocolVersion, rolloutMessages(bundle, d.id, 1, rig.ops.signer));
  const part = join(d.dir, 'bundles', 'defect', '100-4.0.0', 'model.onnx.part');
  await waitFor('half the model on disk', async () => existsSync(part) && (await readFile(part)).length === half, 15_000);
  await first.kill9();
  assert.equal(persisted(d).job?.step, 'download');

  await settledAfterRestart(rig, d, '4.0.0', 'committed');
  assert.ok(flaky.requests.some((r) => r.range === `bytes=${half}-`), `resumed with Range: ${JSON.stringify(flaky.requests)}`);
  await bundlesIntact(d);
});
