import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { openDatabase } from '../../agent/buffer/database.js';
import { BirthDeathSequence } from '../../agent/sync/sparkplug/bdseq.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

test('bdSeq: 0 on a new store, continues after reopening, wraps from 255 to 0, one value per key', async (t) => {
  const path = join(await tempDir(t), 'agent.db');
  const open = () => openDatabase({ path, busyTimeoutMs: 1000 });

  let db = open();
  let seq = new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw1', log });
  assert.equal(seq.current, -1);
  assert.deepEqual([seq.next(), seq.next(), seq.next()], [0, 1, 2]);
  db.close();

  // What a restarted process reads: the bdSeq of the last CONNECT, then the next one.
  db = open();
  seq = new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw1', log });
  assert.equal(seq.current, 2);
  assert.equal(seq.next(), 3);
  const other = new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw2', log });
  assert.equal(other.next(), 0, 'another node id has its own sequence');

  db.prepare("UPDATE sync_state SET value = 254 WHERE key = 'sparkplug.bdSeq plant/gw1'").run();
  db.close();
  db = open();
  seq = new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw1', log });
  assert.deepEqual([seq.next(), seq.next(), seq.next()], [255, 0, 1], 'wraps at 255');
  db.close();
  db = open();
  assert.equal(new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw1', log }).current, 1);

  // A value out of range (edited by hand) starts the sequence over rather than sending it.
  db.prepare("UPDATE sync_state SET value = 9999 WHERE key = 'sparkplug.bdSeq plant/gw1'").run();
  assert.equal(new BirthDeathSequence({ database: db, key: 'sparkplug.bdSeq plant/gw1', log }).next(), 0);
  db.close();

  // Without a database the sequence lives in memory.
  const memory = new BirthDeathSequence({ key: 'k', log });
  assert.deepEqual([memory.next(), memory.next()], [0, 1]);
});
