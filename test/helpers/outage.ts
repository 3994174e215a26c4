import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentProcess } from './agent-process.js';
import { outboxCounts } from './agent-db.js';
import { delivered } from './central.js';
import { dropParts, filesIn } from './hot-folder.js';
import type { Rig } from './rig.js';
import { waitFor } from './wait.js';

/**
 * Takes the broker away under a running agent, drops `count` good images and waits until
 * each is committed: its file reaches done/ only after the outbox transaction returned.
 * Returns the file names, which are the frame ids central will see.
 */
export async function commitDuringOutage(rig: Rig, agent: AgentProcess, device: string, first: number, count: number): Promise<string[]> {
  await waitFor('the agent to reach the broker', async () => (await agent.status()).broker.connected, 10_000);
  await rig.broker.stop();
  await waitFor('the agent to notice the broker is gone', async () => !(await agent.status()).broker.connected, 10_000);
  const names = await dropParts(rig.inbox, first, count);
  await waitFor(`${count} images committed`, async () => (await filesIn(rig.done)).length === count, 15_000);
  const s = await agent.status();
  assert.equal(s.counters.predictions, count);
  assert.equal(s.outbox.pending, count, 'nothing can be acknowledged with the broker down');
  // Read the file itself too: the status page could be wrong about the outbox.
  assert.deepEqual(outboxCounts(rig.dbPath), { total: count, unsent: count });
  assert.equal(delivered(rig.ingest, device).rows, 0, 'nothing reached central during the outage');
  return names;
}

/**
 * Waits until central has `names` for the device, then a little longer so a late
 * duplicate would show, and asserts each frame arrived exactly once.
 */
export async function assertDeliveredOnce(rig: Rig, device: string, names: string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(`${names.length} predictions at central`, () => delivered(rig.ingest, device).rows >= names.length, timeoutMs);
  await sleep(500);
  const central = delivered(rig.ingest, device);
  assert.deepEqual(central.frames, [...names].sort(), 'every committed frame arrived, none twice');
  assert.equal(central.distinctSeqs, central.rows, '(device, seq) is unique');
}
