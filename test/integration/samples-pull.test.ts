import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresIngestStore } from '../../central/ingest/postgres-store.js';
import type { IngestStore } from '../../central/ingest/store.js';
import { SqliteIngestStore } from '../../central/ingest/sqlite-store.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { runBin } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * `edgectl samples pull` against the databases ingest writes (SQLite and the machine's
 * PostgreSQL): the captured inputs of one device come out as files for labelling, with an
 * index tying each to its prediction, and --after-id fetches only what is new.
 */

const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function fill(store: IngestStore): Promise<Buffer[]> {
  const images: Buffer[] = [];
  for (let i = 1; i <= 3; i++) {
    const jpeg = await encodePartJpeg(renderPart(i, { width: 64, height: 48, defectRate: 0.5, seed: 3 }));
    images.push(jpeg);
    await store.storeSample({ v: 1, device: 'gw-s1', id: i, ts: 1_700_000_000_000 + i, source: 'cam1', frameId: `frame/${i}`, seq: 100 + i, mediaType: 'image/jpeg', data: jpeg.toString('base64') }, jpeg, Date.now());
  }
  await store.storeSample({ v: 1, device: 'gw-other', id: 1, ts: 1, source: 'cam1', frameId: 'x', mediaType: 'image/jpeg', data: '' }, Buffer.alloc(0), Date.now());
  return images;
}

async function pullAndCheck(db: string, extra: string[], dir: string, images: Buffer[]): Promise<void> {
  const out = join(dir, 'out');
  const r = await runBin('edgectl', ['samples', 'pull', '--db', db, ...extra, '--device', 'gw-s1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 samples of gw-s1 written .*next time --after-id 3/);
  const index = (await readFile(join(out, 'samples.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number; seq: number; file: string; frameId: string });
  assert.deepEqual(index.map((e) => [e.id, e.seq, e.frameId]), [[1, 101, 'frame/1'], [2, 102, 'frame/2'], [3, 103, 'frame/3']]);
  for (const [i, e] of index.entries()) assert.deepEqual(await readFile(join(out, e.file)), images[i], `${e.file} holds the captured bytes`);
  const again = await runBin('edgectl', ['samples', 'pull', '--db', db, ...extra, '--device', 'gw-s1', '--out', out, '--after-id', '3']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^0 samples of gw-s1/);
}

test('samples pull from an SQLite ingest database', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t, 'samples-pull-');
  const file = join(dir, 'ingest.db');
  const store = new SqliteIngestStore(file);
  const images = await fill(store);
  await store.close();
  await pullAndCheck(`sqlite:${file}`, [], dir, images);
  const bad = await runBin('edgectl', ['samples', 'pull', '--db', join(dir, 'missing.db'), '--device', 'gw-s1', '--out', join(dir, 'x')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /missing\.db/);
});

test('samples pull from a PostgreSQL ingest database', { timeout: 60_000 }, async (t) => {
  const schema = `samples_${process.pid}`;
  const store = await PostgresIngestStore.open(PG_URL, schema);
  t.after(async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  const images = await fill(store);
  await store.close();
  await pullAndCheck(PG_URL, ['--pg-schema', schema], await tempDir(t, 'samples-pull-pg-'), images);
});
