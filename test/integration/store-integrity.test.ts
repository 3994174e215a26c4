import assert from 'node:assert/strict';
import { existsSync, openSync, readdirSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Store } from '../../agent/buffer/store.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

const row = (i: number) => ({ ts: i, source: 'cam', frameId: `f${i}-${'y'.repeat(500)}`, model: 'm', modelVersion: '1', label: 'ok', score: 0.9, topK: [], latencyMs: 1 });

test('a file that is not a database is quarantined, reported, and a fresh store opens', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.db');
  writeFileSync(path, 'this is not an SQLite file at all, just text that a bad copy left behind'.repeat(100));
  const store = new Store({ config: { path, busyTimeoutMs: 100 }, log });
  t.after(() => store.stop());
  assert.ok(store.quarantined, 'the damaged file was noticed');
  assert.match(store.quarantined.reason, /not a database|malformed/);
  assert.ok(existsSync(store.quarantined.movedTo), 'the damaged file is kept beside, renamed');
  const events = store.events.list({ kind: 'store_quarantined' });
  assert.equal(events.length, 1);
  assert.match(events[0]!.message, /moved to .*corrupt-/);
  store.outbox.append([row(1)]);
  assert.equal(store.outbox.pendingCount(), 1, 'the new store works');
});

test('a database with damaged pages fails quick_check at open and is quarantined instead of crash-looping', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.db');
  const first = new Store({ config: { path, busyTimeoutMs: 100 }, log });
  first.outbox.append(Array.from({ length: 2000 }, (_, i) => row(i)));
  await first.stop();
  // Scribble over pages in the middle of the file (not the header), as a failing card might.
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  for (let off = 8192; off < size - 4096; off += 16_384) writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, off);
  closeSync(fd);

  for (let start = 0; start < 2; start++) {
    const store = new Store({ config: { path, busyTimeoutMs: 100 }, log });
    if (start === 0) {
      assert.ok(store.quarantined, 'quick_check found the damage');
      assert.match(store.quarantined.reason, /quick_check|malformed/);
    } else {
      assert.equal(store.quarantined, undefined, 'the next start opens the fresh store without another quarantine');
    }
    await store.stop();
  }
  assert.equal(readdirSync(dir).filter((f) => /\.corrupt-\d+$/.test(f)).length, 1);
});

test('WAL checkpoints run periodically and at stop the WAL is folded back', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'agent.db');
  const store = new Store({ config: { path, busyTimeoutMs: 100, checkpointS: 1 }, log });
  await store.start(new AbortController().signal);
  t.after(() => store.stop());
  for (let i = 0; i < 20; i++) store.outbox.append(Array.from({ length: 100 }, (_, k) => row(i * 100 + k)));
  const walBefore = statSync(`${path}-wal`).size;
  assert.ok(walBefore > 0);
  const framesBefore = (store.database.pragma('wal_checkpoint(PASSIVE)', { simple: false }) as Array<{ checkpointed: number }>)[0]!;
  assert.ok(framesBefore.checkpointed >= 0);
  await new Promise((resolve) => setTimeout(resolve, 1300));
  // After the periodic checkpoint every frame of the WAL is in the file: a checkpoint finds nothing new.
  const after = (store.database.pragma('wal_checkpoint(PASSIVE)', { simple: false }) as Array<{ log: number; checkpointed: number }>)[0]!;
  assert.equal(after.log, after.checkpointed, 'the WAL is fully checkpointed');
  await store.stop();
  assert.equal(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0, 0, 'stop truncates the WAL');
});
