import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { committedFrames, integrityCheck, outboxCounts } from '../helpers/agent-db.js';
import { delivered } from '../helpers/central.js';
import { dropParts, filesIn } from '../helpers/hot-folder.js';
import { assertDeliveredOnce, commitDuringOutage } from '../helpers/outage.js';
import { startRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const K = 8;

test('kill -9 with a committed, unsent backlog: after restart everything committed arrives once', { timeout: 60_000 }, async (t) => {
  const device = 'kill-gw01';
  const rig = await startRig(t, { persistence: true });
  const config = await rig.writeAgentConfig(device);

  const first = await rig.startAgent(config);
  const names = await commitDuringOutage(rig, first, device, 1, K);
  await first.kill9();

  // Before anything reopens it: the file as the crash left it, WAL included.
  assert.equal(integrityCheck(rig.dbPath), 'ok');
  assert.deepEqual(committedFrames(rig.dbPath).sort(), names, 'every committed row survived the kill');
  assert.deepEqual(outboxCounts(rig.dbPath), { total: K, unsent: K });

  assert.ok(rig.broker.restart, 'the test broker can come back on its port');
  await rig.broker.restart();
  const second = await rig.startAgent(config);
  await assertDeliveredOnce(rig, device, names);

  assert.equal(await second.stop('SIGTERM'), 0, second.tail());
  assert.deepEqual(outboxCounts(rig.dbPath), { total: K, unsent: 0 });
  assert.equal(integrityCheck(rig.dbPath), 'ok');
});

/** More with KILL_RUNS=50 for a soak; a few keep the suite quick. */
const RUNS = Number(process.env.KILL_RUNS ?? 3);
const N = 24;

test(`kill -9 while frames stream in, ${RUNS} seeded runs: nothing committed lost, repeats only of unfiled frames`, { timeout: 10_000 + RUNS * 20_000 }, async (t) => {
  // One broker and ingest for every run; each run is its own device with its own folder and store.
  const rig = await startRig(t, { persistence: true });
  for (let seed = 1; seed <= RUNS; seed++) {
    await t.test(`seed ${seed}`, async (st) => {
      const device = `kill-stream-${seed}`;
      const site = await rig.site(device);
      const config = await site.writeAgentConfig(device, { stableMs: 100 });
      const first = await rig.startAgent(config);

      // Kill after a seed-chosen number of commits, so the kill lands mid-stream every run.
      const killAfter = 1 + Math.floor(mulberry32(seed)() * (N - 2));
      const writing = dropPartsPaced(site.inbox, 1, N, 15);
      await waitFor(`${killAfter} commits`, async () => (await first.status()).counters.predictions >= killAfter, 20_000, 5);
      await first.kill9();
      const unfiled = new Set(await filesIn(site.inbox));
      const names = await writing;

      assert.equal(integrityCheck(site.dbPath), 'ok');
      const committed = committedFrames(site.dbPath);
      assert.ok(committed.length >= killAfter, 'the commits the status page reported are in the file');

      const second = await rig.startAgent(config);
      await waitFor('the folder to be worked off', async () => (await filesIn(site.inbox)).length === 0, 20_000);
      await waitFor('every frame at central', () => new Set(delivered(rig.ingest, device).frames).size === N, 20_000);
      await waitFor('the outbox to drain', async () => (await second.status()).outbox.pending === 0, 10_000);
      assert.equal(await second.stop('SIGTERM'), 0, second.tail());

      const central = delivered(rig.ingest, device);
      const repeats = repeated(central.frames);
      st.diagnostic(`killed after ${killAfter} commits: ${committed.length} rows committed, ${unfiled.size} files unfiled, repeated: ${repeats.join(', ') || 'none'}`);
      assert.equal(central.distinctSeqs, central.rows, '(device, seq) is unique');
      for (const frame of committed) assert.ok(central.frames.includes(frame), `committed ${frame} reached central`);
      // A frame committed but not yet moved to done/ is read again after restart (at-least-once,
      // by design of the hot folder); any other repeat would be a real duplicate.
      for (const frame of repeats) assert.ok(unfiled.has(frame) && committed.includes(frame), `${frame} arrived twice but was filed before the kill`);
      assert.deepEqual(await filesIn(site.done), [...names].sort(), 'every image filed in done/ once');
      assert.deepEqual(await filesIn(site.rejected), [], 'a kill never makes a good image look bad');
      assert.equal(integrityCheck(site.dbPath), 'ok');
    });
  }
});

/** Writes good part images one by one, `gapMs` apart, like a camera at a fixed rate. */
async function dropPartsPaced(folder: string, first: number, count: number, gapMs: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = first; i < first + count; i++) {
    names.push(...(await dropParts(folder, i, 1)));
    await sleep(gapMs);
  }
  return names;
}

function repeated(values: string[]): string[] {
  return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}
