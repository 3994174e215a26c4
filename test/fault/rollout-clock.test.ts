import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Agent } from '../../agent/agent.js';
import type { Clock } from '../../agent/clock.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from '../helpers/rollout-bench.js';
import { packDefect, publishRetained, rolloutMessages } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Fault 19 for rollout: the gateway's wall clock steps an hour either way. Timers (jitter,
 * shadow, probation) run on the monotonic clock, so a switch still completes; manifest
 * expiry is still enforced, also when the clock went back, because validity is judged
 * against the newest time central signed (the desired state's issuedAt).
 */

const HOUR = 3_600_000;
let bench: RolloutBench;
let modelFile: string;

before(async () => {
  bench = await startRolloutBench('rollout-clock', 'ops-clock');
  modelFile = await writeDefectModel(join(bench.root, 'src'));
});
after(() => bench?.close());

/** A wall clock the test steps; monotonic time is the process's own. */
function steppedClock(): Clock & { step(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, monotonic: () => performance.now(), step: (ms) => (offset += ms) };
}

function startAgent(device: string, clock: Clock): Promise<Agent> {
  return inProcessAgent(bench, device, { site: 'plant-c', clock, rollout: { jitterMs: 200 } });
}

async function settled(agent: Agent, version: string) {
  await waitFor(`rollout of ${version} to settle`, () => {
    const r = agent.rollout.report;
    return r.candidate?.version === version && ['committed', 'rolled-back', 'failed'].includes(r.state);
  }, 60_000);
  return agent.rollout.report;
}

const serving = (agent: Agent) => agent.rollout.serving().find((m) => m.name === 'defect')?.version;

test('clock stepped forward an hour: a manifest that expired meanwhile is refused, a valid one still rolls out', { timeout: 60_000 }, async () => {
  const clock = steppedClock();
  const agent = await startAgent('clock-fwd', clock);
  try {
    clock.step(HOUR);
    const shortLived = await packDefect({ modelFile, version: '5.0.0', counter: 50, signer: bench.ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens, expiresInMs: 30 * 60_000 });
    await publishRetained(bench.broker.url, bench.broker.protocolVersion, rolloutMessages(shortLived, 'clock-fwd', 1, bench.ops.signer));
    const refused = await settled(agent, '5.0.0');
    assert.equal(refused.state, 'failed');
    assert.match(refused.reason ?? '', /expired/);
    assert.equal(serving(agent), '1.0.0');

    const good = await packDefect({ modelFile, version: '5.1.0', counter: 51, signer: bench.ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens });
    await publishRetained(bench.broker.url, bench.broker.protocolVersion, rolloutMessages(good, 'clock-fwd', 2, bench.ops.signer));
    assert.equal((await settled(agent, '5.1.0')).state, 'committed');
    assert.equal(serving(agent), '5.1.0');
  } finally {
    await agent.stop();
  }
});

test('clock stepped back an hour: expiry is still enforced against the signed issue time, and a valid rollout completes', { timeout: 60_000 }, async () => {
  const clock = steppedClock();
  const agent = await startAgent('clock-back', clock);
  try {
    clock.step(-HOUR);
    // Expired ten minutes ago by central's clock; by the stepped-back gateway clock it would look valid for fifty more.
    const expired = await packDefect({ modelFile, version: '6.0.0', counter: 60, signer: bench.ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens, expiresInMs: 30 * 60_000, now: () => Date.now() - 40 * 60_000 });
    await publishRetained(bench.broker.url, bench.broker.protocolVersion, rolloutMessages(expired, 'clock-back', 1, bench.ops.signer));
    const refused = await settled(agent, '6.0.0');
    assert.equal(refused.state, 'failed');
    assert.match(refused.reason ?? '', /expired/);

    // Created now by central's clock, an hour in the future by the gateway's: accepted, and
    // shadow and probation, timed on the monotonic clock, finish normally.
    const good = await packDefect({ modelFile, version: '6.1.0', counter: 61, signer: bench.ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens });
    await publishRetained(bench.broker.url, bench.broker.protocolVersion, rolloutMessages(good, 'clock-back', 2, bench.ops.signer));
    const done = await settled(agent, '6.1.0');
    assert.equal(done.state, 'committed', done.reason);
    assert.equal(serving(agent), '6.1.0');
    // Events keep their order by id whatever the wall clock did.
    const kinds = agent.store.events.list({ limit: 200 }).filter((e) => e.kind.startsWith('rollout_') && e.message.includes('6.1.0')).map((e) => e.kind).reverse();
    assert.deepEqual(kinds.slice(-3), ['rollout_switching', 'rollout_probation', 'rollout_committed']);
  } finally {
    await agent.stop();
  }
});
