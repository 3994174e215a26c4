import assert from 'node:assert/strict';
import { statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { agentConfig, writeConfig } from '../helpers/agent-process.js';
import { integrityCheck, withAgentDb } from '../helpers/agent-db.js';
import { delivered } from '../helpers/central.js';
import { dropParts, filesIn } from '../helpers/hot-folder.js';
import { startRig } from '../helpers/rig.js';
import { smallFilesystem } from '../helpers/small-fs.js';
import { prediction } from '../helpers/sync-device.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

test('disk full under a running agent: SQLITE_FULL handled, the fault is shown, no crash loop, writing resumes when space returns', { timeout: 90_000 }, async (t) => {
  const rig = await startRig(t);
  const fs = smallFilesystem(rig.host, join(rig.dir, 'small-disk'), 6 * 1024 * 1024);
  if (!fs) {
    // Without mount rights the same path is driven by SQLite's page cap, in process.
    return diskFullByPageCap(t);
  }
  const device = 'gw-full';
  const base = agentConfig({ deviceId: device, broker: rig.broker, modelPath: rig.modelPath, folder: 'inbox', stableMs: 100, dbPath: join(fs, 'agent.db') });
  const agent = await rig.startAgent(await writeConfig(rig.dir, base));
  await dropParts(rig.inbox, 1, 5);
  await waitFor('5 committed', async () => (await agent.status()).counters.predictions === 5, 20_000);

  // Fill the disk, leaving less than a WAL page group.
  const filler = join(fs, 'filler');
  const free = statfsSync(fs).bavail * statfsSync(fs).bsize;
  writeFileSync(filler, Buffer.alloc(Math.max(0, free - 8 * 1024)));
  const pid = agent.child.pid;
  let n = 6;
  await waitFor('the store to fail for lack of space', async () => {
    await dropParts(rig.inbox, n, 3);
    n += 3;
    return (await agent.status()).health.state === 'fault';
  }, 30_000, 300);
  const s = await agent.status();
  t.diagnostic(`health while full: ${s.health.reason}`);
  assert.match(s.health.reason, /store writes are failing: .*(full|disk)/i, 'the verdict names the full store');
  assert.ok(s.counters.storeWriteErrors > 0);
  assert.ok(agent.logs().some((l) => /the store is full|database or disk is full/.test(String(l.msg))), 'the alarm is logged');
  await sleep(1000);
  assert.ok(agent.running, 'no crash');
  assert.equal(agent.child.pid, pid, 'no restart loop: the same process');
  assert.equal((await fetch(`${agent.statusUrl}/healthz`)).status, 200);

  // Space comes back: writing resumes without a restart.
  unlinkSync(filler);
  const committedBefore = (await agent.status()).counters.predictions;
  const later = await dropParts(rig.inbox, 500, 4);
  await waitFor('new frames committed after space returned', async () => (await agent.status()).counters.predictions >= committedBefore + 4, 20_000);
  await waitFor('the verdict to leave fault', async () => (await agent.status()).health.state !== 'fault', 10_000);
  const recovered = withAgentDb(base.buffer!.path!, (db) => db.prepare<[], string>("SELECT message FROM events WHERE kind = 'store_recovered'").pluck().all());
  assert.equal(recovered.length, 1, 'recovery is recorded once');
  assert.match(recovered[0]!, /after: could not store|the store is full/);
  assert.ok((await filesIn(rig.done)).some((f) => later.includes(f)));
  await waitFor('everything committed at central', async () => delivered(rig.ingest, device).rows === (await agent.status()).counters.predictions, 15_000);
  assert.equal(await agent.stop('SIGTERM'), 0, agent.tail());
  assert.equal(integrityCheck(base.buffer!.path!), 'ok');
});

async function diskFullByPageCap(t: TestContext): Promise<void> {
  const dir = await tempDir(t);
  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 100 }, log });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 16, lingerMs: 0 });
  await writer.add(prediction(0));
  store.database.pragma(`max_page_count = ${store.database.pragma('page_count', { simple: true }) as number}`);
  const failed = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => writer.add(prediction(i, { frameId: 'x'.repeat(4000) }))));
  assert.ok(failed.some((r) => r.status === 'rejected'));
  assert.equal(writer.storeFull, true);
  store.database.pragma('max_page_count = 1073741823');
  assert.ok((await writer.add(prediction(1))) > 0);
  assert.equal(store.events.list({ kind: 'store_recovered' }).length, 1);
  await writer.stop();
  await store.stop();
}
