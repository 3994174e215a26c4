import assert from 'node:assert/strict';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Store } from '../../agent/buffer/store.js';
import { agentConfig, writeConfig } from '../helpers/agent-process.js';
import { committedFrames, integrityCheck, outboxCounts } from '../helpers/agent-db.js';
import { delivered } from '../helpers/central.js';
import { dropParts, filesIn } from '../helpers/hot-folder.js';
import { startRig } from '../helpers/rig.js';
import { prediction } from '../helpers/sync-device.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const BACKLOG = 60_000;
const DEADLINE_MS = 3000;

test('SIGTERM with a full outbox and frames in flight: the agent stops within its deadline, nothing committed is lost, the rest goes after restart', { timeout: 90_000 }, async (t) => {
  const rig = await startRig(t, { persistence: true });
  const device = 'gw-term';
  // The outbox an outage left behind: committed before this agent started.
  const seed = new Store({ config: { path: rig.dbPath, busyTimeoutMs: 1000 }, log });
  for (let i = 0; i < BACKLOG; i += 5000) seed.outbox.append(Array.from({ length: 5000 }, (_, k) => prediction(i + k, { frameId: `backlog-${i + k}` })));
  await seed.stop();

  // A slow drain, so the stop lands with most of the backlog unsent.
  const base = agentConfig({ deviceId: device, broker: rig.broker, modelPath: rig.modelPath, folder: 'inbox', dbPath: 'agent.db', stableMs: 100, shutdownMs: DEADLINE_MS });
  const config = { ...base, broker: { ...base.broker, backlogRatePerS: 2000 } };
  // Images made beforehand and moved in at once, so the camera's burst is quick.
  const staging = join(rig.dir, 'staging');
  await mkdir(staging, { recursive: true });
  const names = await dropParts(staging, 1, 12);
  const agent = await rig.startAgent(await writeConfig(rig.dir, config));
  await waitFor('the drain to start', () => delivered(rig.ingest, device).rows > 0, 15_000);
  for (const name of names) await rename(join(staging, name), join(rig.inbox, name));
  await waitFor('some frames in the pipeline', async () => (await agent.status()).counters.framesIn >= 3, 10_000, 5);

  const t0 = performance.now();
  const code = await agent.stop('SIGTERM', DEADLINE_MS + 5000);
  const stopMs = performance.now() - t0;
  t.diagnostic(`stopped in ${Math.round(stopMs)} ms (deadline ${DEADLINE_MS} ms)`);
  assert.equal(code, 0, agent.tail());
  assert.ok(stopMs < DEADLINE_MS + 1500, `stopped within the deadline (${Math.round(stopMs)} ms)`);
  assert.ok(agent.logs().some((l) => l.msg === 'flushing the outbox before stopping'), 'it tried to flush while connected');

  assert.equal(integrityCheck(rig.dbPath), 'ok');
  const counts = outboxCounts(rig.dbPath);
  t.diagnostic(`at stop: ${counts.total} rows, ${counts.unsent} unsent`);
  const filed = await filesIn(rig.done);
  assert.ok(counts.unsent > 0, `the stop came with a backlog left (${counts.unsent} unsent)`);
  assert.equal(counts.total, BACKLOG + filed.length, 'every backlog row and every filed frame is in the store');
  const frames = new Set(committedFrames(rig.dbPath));
  for (const f of filed) assert.ok(frames.has(f), `${f} was filed as done, so it is committed`);
  for (const f of names) assert.ok(filed.includes(f) || (await filesIn(rig.inbox)).includes(f), `${f} is either committed or still waiting in the inbox`);

  // The next start sends the rest; central ends with every committed row once.
  const again = await rig.startAgent(await writeConfig(rig.dir, { ...config, broker: { ...config.broker, backlogRatePerS: 0 } }));
  await waitFor('the inbox to be worked off', async () => (await filesIn(rig.inbox)).length === 0, 20_000);
  await waitFor('the outbox to drain', async () => (await again.status()).outbox.pending === 0, 60_000, 100);
  const total = outboxCounts(rig.dbPath).total;
  await waitFor(`${total} rows at central`, () => delivered(rig.ingest, device).rows === total, 30_000, 100);
  await sleep(300);
  const central = delivered(rig.ingest, device);
  assert.equal(central.distinctSeqs, total, 'every committed row reached central exactly once');
  assert.equal(await again.stop('SIGTERM'), 0, again.tail());
});
