import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { connectAsync, type MqttClient } from 'mqtt';
import sparkplug from 'sparkplug-payload';
import type { AgentProcess } from '../helpers/agent-process.js';
import { agentConfig, writeConfig } from '../helpers/agent-process.js';
import { withAgentDb } from '../helpers/agent-db.js';
import { dropParts, filesIn } from '../helpers/hot-folder.js';
import { startRig, type Rig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';
import { DEFAULT_TOPIC_PREFIX, desiredStateTopic } from '../../protocol/topics.js';

const spB = sparkplug.get('spBv1.0')!;
const P = DEFAULT_TOPIC_PREFIX;

/** An agent with every inbound topic it can have: rollout (desired state of device, group, site) and Sparkplug (NCMD, STATE). */
async function abusedAgent(rig: Rig, device: string): Promise<AgentProcess> {
  const { publicKey } = generateKeyPairSync('ed25519');
  const base = agentConfig({ deviceId: device, broker: rig.broker, modelPath: rig.modelPath, folder: 'inbox', dbPath: 'agent.db', stableMs: 100 });
  const config = {
    ...base,
    broker: { ...base.broker, output: 'sparkplug', sparkplug: { groupId: 'plant', primaryHostId: 'scada' } },
    rollout: { enabled: true, group: 'line-3', dir: 'models', trustedKeys: [{ id: 'ops-1', publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() }] },
  };
  return rig.startAgent(await writeConfig(rig.dir, config));
}

function events(rig: Rig, kind: string): Array<{ message: string; detail: string | null }> {
  return withAgentDb(rig.dbPath, (db) => db.prepare<[string], { message: string; detail: string | null }>('SELECT message, detail FROM events WHERE kind = ? ORDER BY id').all(kind));
}

async function central(rig: Rig): Promise<MqttClient> {
  return connectAsync(rig.broker.url, { protocolVersion: rig.broker.protocolVersion, clientId: `abuser-${randomUUID()}` });
}

test('malformed JSON, unknown commands and wrong schemas on every inbound topic are refused with an event; nothing else changes', { timeout: 60_000 }, async (t) => {
  const rig = await startRig(t);
  const device = 'gw-abuse';
  const agent = await abusedAgent(rig, device);
  await waitFor('the agent to reach the broker', async () => (await agent.status()).broker.connected, 10_000);
  const before = await agent.status();
  const c = await central(rig);
  t.after(() => c.endAsync(true));

  const desired = [desiredStateTopic(P, 'device', device), desiredStateTopic(P, 'group', 'line-3'), desiredStateTopic(P, 'site', 'test-plant')];
  const bad = ['{"payload": not json', '{"payload":{"v":1},"signatures":"none"}', JSON.stringify({ payload: { v: 1, target: { kind: 'device', id: device }, counter: 'seven' }, signatures: [] }), '[]'];
  for (const topic of desired) for (const payload of bad) await c.publishAsync(topic, payload, { qos: 1 });
  const ncmd = 'spBv1.0/plant/NCMD/gw-abuse';
  await c.publishAsync(ncmd, 'definitely not protobuf', { qos: 1 });
  await c.publishAsync(ncmd, Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Reboot', type: 'Boolean', value: true }] })), { qos: 1 });
  await c.publishAsync(ncmd, Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'String', value: 'yes please' }] })), { qos: 1 });
  await c.publishAsync('spBv1.0/STATE/scada', '{"online":"maybe"}', { qos: 1 });
  await c.publishAsync('spBv1.0/STATE/scada', '<xml/>', { qos: 1 });

  await waitFor('a refusal for every desired-state message', () => events(rig, 'desired_refused').length >= desired.length * bad.length, 15_000);
  await waitFor('a refusal for every command and STATE', () => events(rig, 'command_refused').length >= 5, 10_000);
  const refusals = events(rig, 'desired_refused').map((e) => e.message);
  assert.ok(refusals.every((m) => m.length > 10), 'each refusal says what was wrong');
  const commands = events(rig, 'command_refused').map((e) => e.message);
  assert.ok(commands.some((m) => /not a Sparkplug B payload|no metric/.test(m)), commands.join(' | '));
  assert.ok(commands.some((m) => /unknown NCMD metric "Node Control\/Reboot"/.test(m)), commands.join(' | '));
  assert.ok(commands.some((m) => /Rebirth must be true/.test(m)), commands.join(' | '));
  assert.ok(commands.some((m) => /spBv1\.0\/STATE\/scada: STATE payload has no boolean "online"/.test(m)), commands.join(' | '));
  assert.ok(commands.some((m) => /neither JSON nor ONLINE\/OFFLINE/.test(m)), commands.join(' | '));

  const after = await agent.status();
  assert.ok(agent.running, 'still running');
  assert.deepEqual(after.models.map((m) => [m.name, m.version, m.loaded]), before.models.map((m) => [m.name, m.version, m.loaded]), 'the serving model did not change');
  assert.deepEqual(after.models.map((m) => m.rollout.state), before.models.map((m) => m.rollout.state), 'nor its rollout state');
  assert.equal(after.outbox.pending, before.outbox.pending, 'nor the outbox');
  assert.equal(after.counters.predictions, before.counters.predictions);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
});

test('a 100 MB payload and a flood on command topics are refused by size and rate limits; inference latency stays within budget', { timeout: 90_000 }, async (t) => {
  const rig = await startRig(t);
  const device = 'gw-flood';
  const agent = await abusedAgent(rig, device);
  await waitFor('the agent to reach the broker', async () => (await agent.status()).broker.connected, 10_000);

  // Baseline: frames through the camera path with nothing else going on.
  await dropParts(rig.inbox, 1, 15);
  await waitFor('15 frames committed', async () => (await agent.status()).counters.predictions === 15, 20_000);
  const quiet = (await agent.status()).latency.frameToCommit.p99Ms!;

  const c = await central(rig);
  t.after(() => c.endAsync(true));
  const topic = desiredStateTopic(P, 'device', device);
  // The 100 MB payload first (acknowledged by the broker once it has it all), then the flood with frames.
  await c.publishAsync(topic, Buffer.alloc(100 * 1024 * 1024, 0x7b), { qos: 1 });
  const flood = (async () => {
    for (let i = 0; i < 20_000; i++) {
      c.publish(i % 2 ? topic : 'spBv1.0/plant/NCMD/gw-flood', `{"junk":${i}}`, { qos: 0 });
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  await dropParts(rig.inbox, 16, 15);
  await flood;
  await waitFor('30 frames committed', async () => (await agent.status()).counters.predictions === 30, 30_000);
  const loaded = (await agent.status()).latency.frameToCommit.p99Ms!;
  t.diagnostic(`frame→commit p99: ${quiet.toFixed(1)} ms quiet, ${loaded.toFixed(1)} ms over both phases (flood included)`);
  assert.ok(loaded <= Math.max(2 * quiet, quiet + 250), `p99 ${loaded.toFixed(1)} ms within budget (2 × ${quiet.toFixed(1)} ms, or 250 ms more on a busy machine)`);

  // The first refusal is reported at once, the rest of the flood in one event 10 s later.
  const dropped = () => events(rig, 'inbound_refused').reduce((n, e) => n + ((JSON.parse(e.detail ?? '{}') as { flood?: number }).flood ?? 0), 0);
  await waitFor('the flood to be reported', () => dropped() > 10_000, 20_000, 200);
  t.diagnostic(`${dropped()} flood messages dropped before any handler, in ${events(rig, 'inbound_refused').length} events`);
  // Whatever got through the rate limit was parsed and refused; the 100 MB payload never reached a handler.
  const handled = events(rig, 'desired_refused').length + events(rig, 'command_refused').length;
  assert.ok(handled < 500, `only what the rate limit allows reached the handlers (${handled})`);
  assert.ok(!events(rig, 'desired_refused').some((e) => /104857600/.test(e.message)), 'the 100 MB payload never reached a handler (the broker honours the agent\'s maximum packet size)');
  assert.deepEqual(await filesIn(rig.rejected), [], 'no frame suffered');
  assert.ok(agent.running);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
});
