import assert from 'node:assert/strict';
import { test } from 'node:test';
import { integrityCheck, outboxCounts } from '../helpers/agent-db.js';
import { assertDeliveredOnce, commitDuringOutage } from '../helpers/outage.js';
import { startRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'restart-gw01';
const K = 8;
const DEADLINE_MS = 3000;
/** Process exit after the agent's own deadline: flushing stdout, unloading onnxruntime. */
const EXIT_SLACK_MS = 2000;

test('committed predictions survive a SIGTERM during a broker outage and arrive once after restart', { timeout: 60_000 }, async (t) => {
  // A persistent broker keeps central's session across its restart, as production does;
  // without it, batches published before ingest resubscribes would go to nobody.
  const rig = await startRig(t, { persistence: true });
  const config = await rig.writeAgentConfig(DEVICE, { shutdownMs: DEADLINE_MS });

  const first = await rig.startAgent(config);
  const names = await commitDuringOutage(rig, first, DEVICE, 1, K);

  const t0 = performance.now();
  const code = await first.stop('SIGTERM', DEADLINE_MS + 10_000);
  const stopMs = performance.now() - t0;
  t.diagnostic(`SIGTERM to exit with the broker down: ${Math.round(stopMs)} ms`);
  assert.equal(code, 0, `exit code on SIGTERM with the broker down\n${first.tail()}`);
  assert.ok(stopMs < DEADLINE_MS + EXIT_SLACK_MS, `stopped in ${Math.round(stopMs)} ms, deadline ${DEADLINE_MS} ms`);
  assert.deepEqual(outboxCounts(rig.dbPath), { total: K, unsent: K }, 'the backlog is still in the outbox, unsent');
  assert.equal(integrityCheck(rig.dbPath), 'ok');

  assert.ok(rig.broker.restart, 'the test broker can come back on its port');
  await rig.broker.restart();
  const second = await rig.startAgent(config);
  await assertDeliveredOnce(rig, DEVICE, names);
  await waitFor('the backlog to be marked sent', async () => (await second.status()).outbox.pending === 0, 10_000);

  assert.equal(await second.stop('SIGTERM'), 0, second.tail());
  assert.deepEqual(outboxCounts(rig.dbPath), { total: K, unsent: 0 });
  assert.equal(integrityCheck(rig.dbPath), 'ok');
});
