import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentConfig, writeConfig } from '../helpers/agent-process.js';
import { startRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

test('the agent forwards its audit events and health to central, and reports its store budget in metrics', { timeout: 60_000 }, async (t) => {
  const rig = await startRig(t);
  const device = 'gw-telemetry';
  const base = agentConfig({ deviceId: device, broker: rig.broker, modelPath: rig.modelPath, folder: 'inbox', dbPath: 'agent.db' });
  const config = { ...base, broker: { ...base.broker, telemetryS: 1 }, buffer: { ...base.buffer, quota: { storeBytes: 64 * 1024 * 1024 } } };
  const agent = await rig.startAgent(await writeConfig(rig.dir, config));
  const db = rig.ingest.database;
  const count = (table: string) => db.prepare<[string], number>(`SELECT count(*) FROM ${table} WHERE device = ?`).pluck().get(device) ?? 0;
  await waitFor('events at central', () => count('events') > 0, 15_000);
  await waitFor('two health reports at central', () => count('health') >= 2, 15_000);
  const kinds = db.prepare<[string], string>('SELECT kind FROM events WHERE device = ? ORDER BY id').pluck().all(device);
  assert.ok(kinds.includes('broker_connected'), kinds.join(', '));
  await waitFor('agent_started forwarded', () => db.prepare<[string], string>('SELECT kind FROM events WHERE device = ?').pluck().all(device).includes('agent_started'), 10_000);
  const health = db.prepare<[string], { state: string; store_quota_bytes: number; evictions: string }>('SELECT state, store_quota_bytes, evictions FROM health WHERE device = ? ORDER BY ts DESC LIMIT 1').get(device)!;
  assert.equal(health.store_quota_bytes, 64 * 1024 * 1024);
  assert.ok(['healthy', 'degraded'].includes(health.state), health.state);
  assert.deepEqual(Object.keys(JSON.parse(health.evictions) as object).sort(), ['alarms', 'events', 'explained', 'flagged', 'plain', 'samples', 'sent']);

  const metrics = await (await fetch(`${agent.statusUrl}/metrics`)).text();
  assert.match(metrics, /^edge_agent_store_quota_bytes 67108864$/m);
  assert.match(metrics, /^edge_agent_store_used_bytes \d+$/m);
  assert.match(metrics, /^edge_agent_store_evicted_total\{class="plain"\} 0$/m);
  assert.match(metrics, /^edge_agent_store_full 0$/m);
  const status = await agent.status();
  assert.equal(status.disk?.quotaBytes, 64 * 1024 * 1024);
  assert.equal(status.storeBudget?.full, false);
  // Nothing forwarded twice: ids are unique per device at central and all were marked sent.
  const ids = db.prepare<[string], number>('SELECT id FROM events WHERE device = ?').pluck().all(device);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
});
