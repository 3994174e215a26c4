import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { signEnvelope } from '../../protocol/signing.js';
import { desiredStateTopic, manifestTopic } from '../../protocol/topics.js';
import { inProcessAgent, startRolloutBench, type RolloutBench } from '../helpers/rollout-bench.js';
import { desiredFor, packDefect, PREFIX, publishRetained, rolloutMessages } from '../helpers/rollout-rig.js';
import { waitFor } from '../helpers/wait.js';

/*
 * Fault 21 for rollout: whatever arrives on the topics an agent listens to for models
 * (desired state for its device, group and site; the manifest it asked for), malformed
 * JSON, the wrong schema, an unknown command, an oversized payload, is refused with an
 * event that says what and where, and nothing else changes: the same model serves and
 * the next valid message is acted on.
 */

let bench: RolloutBench;
const DEVICE = 'gw-inbound';

before(async () => {
  bench = await startRolloutBench('rollout-inbound', 'ops-inbound');
});
after(() => bench?.close());

test('garbage on every rollout topic is refused with a clear event; the serving model and the next valid rollout are untouched', { timeout: 90_000 }, async () => {
  const agent = await inProcessAgent(bench, DEVICE, { site: 'plant-i', rollout: { group: 'line-i' } });
  const { broker, ops } = bench;
  const refusals = () => agent.store.events.list({ limit: 500 }).filter((e) => e.kind === 'desired_refused' || e.kind === 'manifest_refused' || e.kind === 'inbound_refused');
  const counters = () => agent.store.database.prepare('SELECT key, counter FROM signed_counters ORDER BY key').all();
  try {
    const before = { serving: agent.rollout.serving(), counters: counters(), predictions: agent.counters };
    const deviceTopic = desiredStateTopic(PREFIX, 'device', DEVICE);
    const garbage: Array<{ topic: string; payload: Buffer | string; says: RegExp }> = [
      { topic: deviceTopic, payload: '{"payload": {"v": 1', says: /JSON/i },
      { topic: desiredStateTopic(PREFIX, 'site', 'plant-i'), payload: JSON.stringify({ hello: 'world' }), says: /payload|signatures/ },
      { topic: desiredStateTopic(PREFIX, 'group', 'line-i'), payload: Buffer.from([0xff, 0xfe, 0x00, 0x01]), says: /JSON|UTF-8|utf/i },
      // Signed by a trusted key, but a command this agent does not know: the strict schema refuses it.
      { topic: deviceTopic, payload: JSON.stringify(signEnvelope({ v: 1, target: { kind: 'device', id: DEVICE }, counter: 5, issuedAt: new Date().toISOString(), models: [], command: 'wipe-disk' }, ops.signer)), says: /command/ },
      // The right shape with a wrong type inside.
      { topic: deviceTopic, payload: JSON.stringify(signEnvelope({ v: 1, target: { kind: 'device', id: DEVICE }, counter: 'six', issuedAt: 'yesterday', models: [] }, ops.signer)), says: /counter|issuedAt/ },
      // Over the desired state's 64 KiB limit: refused on its length, before any parsing.
      { topic: deviceTopic, payload: Buffer.alloc(200 * 1024, 0x7b), says: /bytes|large|size/i },
    ];
    for (const [i, g] of garbage.entries()) {
      const seen = refusals().length;
      await publishRetained(broker.url, broker.protocolVersion, [{ topic: g.topic, payload: g.payload }]);
      await waitFor(`refusal ${i} on ${g.topic}`, () => refusals().length > seen, 5000);
      const event = refusals()[0]!;
      assert.match(event.message, g.says, `refusal ${i}: ${event.message}`);
      assert.ok(event.message.includes(g.topic) || event.kind === 'inbound_refused', `refusal ${i} names the topic: ${event.message}`);
    }
    // A manifest topic the agent asked for, holding garbage.
    const seen = refusals().length;
    await publishRetained(broker.url, broker.protocolVersion, [
      { topic: manifestTopic(PREFIX, 'defect', '7.0.0'), payload: '<html>not a manifest</html>' },
      { topic: deviceTopic, payload: JSON.stringify(desiredFor(DEVICE, 1, ops.signer, [{ name: 'defect', version: '7.0.0', counter: 70 }])) },
    ]);
    await waitFor('the manifest refusal', () => refusals().some((e, i) => i < refusals().length - seen && e.kind === 'manifest_refused'), 5000);
    assert.match(agent.rollout.report.reason ?? '', /manifest of defect 7\.0\.0 refused/);

    assert.deepEqual(agent.rollout.serving(), before.serving, 'the same model serves');
    assert.deepEqual(counters().filter((c) => !(c as { key: string }).key.startsWith('desired:device')), before.counters.filter((c) => !(c as { key: string }).key.startsWith('desired:device')), 'no model counter moved');

    // The next valid rollout goes through as if nothing had happened.
    const good = await packDefect({ modelFile: await writeDefectModel(join(bench.root, 'src')), version: '7.1.0', counter: 71, signer: ops.signer, root: bench.bundles, urlBase: bench.server.url, goldens: bench.goldens });
    await publishRetained(broker.url, broker.protocolVersion, rolloutMessages(good, DEVICE, 2, ops.signer));
    await waitFor('7.1.0 committed', () => agent.rollout.report.candidate?.version === '7.1.0' && agent.rollout.report.state === 'committed', 20_000);
    assert.equal(agent.rollout.serving()[0]?.version, '7.1.0');
  } finally {
    await agent.stop();
  }
});
