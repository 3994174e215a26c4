import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Store } from '../../agent/buffer/store.js';
import { BrokerSchema } from '../../agent/config/schema.js';
import { mulberry32 } from '../../agent/sources/camera/prng.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.js';
import { integrityCheck, withAgentDb } from '../helpers/agent-db.js';
import { startBroker } from '../helpers/broker.js';
import { REPO_ROOT } from '../helpers/child.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** 50 in the suite; KILL_HEAVY_RUNS=500 (or more) for a soak. */
const RUNS = Number(process.env.KILL_HEAVY_RUNS ?? 50);
const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

interface Run {
  /** Highest seq whose commit returned before the kill, per the child's own report. */
  committed: number;
  startedAt: number;
}

/** Runs the writer until a seeded moment, then SIGKILL; what it reported committed. */
async function writeAndKill(dbPath: string, seed: number): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/heavy-writer.ts', dbPath, String(seed)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let committed = 0;
  let startedAt = -1;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    const lines = out.split('\n');
    out = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('c ')) committed = Math.max(committed, Number(line.slice(2)));
      else if (line.startsWith('ready ')) startedAt = Number(line.slice(6));
    }
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await waitFor(`writer ${seed} to start`, () => startedAt >= 0 || child.exitCode !== null, 20_000, 5);
  if (startedAt < 0) throw new Error(`the writer exited before it started: ${err}`);
  // Kill after a seed-chosen 20–300 ms of writing: mid-transaction, mid-checkpoint, mid-eviction.
  await sleep(20 + Math.floor(mulberry32(seed)() * 280));
  child.kill('SIGKILL');
  await exited;
  return { committed, startedAt };
}

test(`kill -9 during heavy writing, ${RUNS} seeded runs: integrity_check ok, nothing committed lost, all of it reaches central once`, { timeout: 60_000 + RUNS * 4_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const dbPath = join(dir, 'agent.db');
  let promised = 0;
  for (let seed = 1; seed <= RUNS; seed++) {
    const run = await writeAndKill(dbPath, seed);
    // The file as the kill left it, WAL included, before anything reopens it.
    assert.equal(integrityCheck(dbPath), 'ok', `seed ${seed}: integrity_check`);
    const { max, count, d: distinct } = withAgentDb(dbPath, (db) => db.prepare<[], { max: number; count: number; d: number }>('SELECT coalesce(max(seq), 0) AS max, count(*) AS count, count(DISTINCT seq) AS d FROM predictions').get()!);
    assert.ok(run.startedAt >= promised, `seed ${seed}: the restart saw every earlier commit (last seq ${run.startedAt} ≥ ${promised})`);
    assert.ok(max >= run.committed, `seed ${seed}: seq ${run.committed} was reported committed and the file ends at ${max}`);
    assert.equal(count, max, `seed ${seed}: no gap in 1..${max}: nothing committed went missing`);
    assert.equal(distinct, count);
    promised = Math.max(promised, run.committed);
    if (seed % 10 === 0) t.diagnostic(`after ${seed} kills: ${max} rows, last reported commit ${run.committed}`);
  }
  assert.ok(promised > RUNS, 'the writer really wrote between kills');

  // Everything the kills left behind reaches central exactly once.
  const broker = await startBroker();
  host.after(() => broker.stop());
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  const store = new Store({ config: { path: dbPath, busyTimeoutMs: 1000 }, log });
  host.after(() => store.stop());
  const total = store.outbox.lastSeq();
  const sync = new MqttSync({ deviceId: 'kill-heavy', site: 's', agentVersion: 't', config: BrokerSchema.parse({ url: broker.url, protocolVersion: broker.protocolVersion }), outbox: store.outbox, events: store.events, log });
  host.after(() => sync.stop({ deadlineMs: 2000 }));
  await sync.start(new AbortController().signal);
  await waitFor(`${total} rows at central`, () => ingest.countFor('kill-heavy') === total, 60_000);
  const span = ingest.database.prepare('SELECT count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, max(seq) AS hi FROM predictions WHERE device = ?').get('kill-heavy');
  assert.deepEqual(span, { n: total, d: total, lo: 1, hi: total });
  t.diagnostic(`${RUNS} kills, ${total} predictions committed and delivered once`);
});
