import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { Clock } from '../../agent/clock.js';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const HOUR = 3_600_000;

/** Wall time that an operator (or a bad NTP server) can step; monotonic time is the machine's. */
class SteppedClock implements Clock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  monotonic(): number {
    return performance.now();
  }
}

test('the wall clock steps +1 h and -1 h mid-stream: sequence order holds, linger, rate limit and ack timers do not stall or burst', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const broker = await startBroker({ persistence: true });
  host.after(() => broker.stop());
  const ingest = new Ingest({ brokerUrl: broker.url, dbPath: join(dir, 'central.db'), topicPrefix: DEFAULT_TOPIC_PREFIX, protocolVersion: broker.protocolVersion, clientId: `ingest-${randomUUID()}`, log, reconnectMs: 100 });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  const clock = new SteppedClock();
  const device = await startSyncDevice(host, { deviceId: 'gw-clock', dir, broker, clock, brokerConfig: { backlogRatePerS: 2000, batch: { maxCount: 20, backlogMaxCount: 100, lingerMs: 20 } } });
  await waitFor('the sync to connect', () => device.sync.connected);

  const latencies: number[] = [];
  const write = async (n: number, from: number) => {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const seq = await device.writer.add({ ...prediction(from + i), ts: clock.now() });
      // Committed and acknowledged: the full path, timed on the monotonic clock.
      await waitFor(`seq ${seq} acknowledged`, () => device.store.outbox.pendingCount() === 0, 5000, 2);
      latencies.push(performance.now() - t0);
    }
  };
  await write(50, 0);
  clock.offset += HOUR;
  await write(50, 50);
  clock.offset -= 2 * HOUR;
  await write(50, 100);
  clock.offset += HOUR;
  t.diagnostic(`commit→ack p100 ${Math.max(...latencies).toFixed(0)} ms over ${latencies.length} predictions`);
  assert.ok(Math.max(...latencies) < 1000, 'no step stalled a linger or ack timer');

  // A backlog drained across a step: the rate limit stays a rate (no burst after +1 h, no stall after -1 h).
  await broker.stop();
  await waitFor('the sync to notice', () => !device.sync.connected);
  await Promise.all(Array.from({ length: 2000 }, (_, i) => device.writer.add({ ...prediction(1000 + i), ts: clock.now() })));
  await broker.restart?.();
  const t0 = performance.now();
  await waitFor('half the backlog', () => device.store.outbox.pendingCount() <= 1000, 10_000, 5);
  clock.offset -= HOUR;
  await waitFor('the rest of the backlog', () => device.store.outbox.pendingCount() === 0, 10_000, 5);
  const seconds = (performance.now() - t0) / 1000;
  t.diagnostic(`2000 backlog rows in ${seconds.toFixed(2)} s across a -1 h step (limit 2000/s)`);
  assert.ok(seconds >= 0.6 && seconds < 4, `the drain took ${seconds.toFixed(2)} s, about a second at 2000/s`);

  await waitFor('every row at central', () => ingest.countFor('gw-clock') === 2150, 10_000);
  const rows = ingest.database.prepare<[], { seq: number; ts: number }>("SELECT seq, ts FROM predictions WHERE device = 'gw-clock' ORDER BY seq").all();
  assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 2150 }, (_, i) => i + 1), 'sequence numbers are contiguous and unique whatever the wall clock did');
  const stepped = rows.slice(0, 150).map((r) => r.ts);
  assert.ok(stepped[60]! - stepped[40]! > HOUR * 0.9, 'the records carry the stepped wall time...');
  assert.ok(stepped[110]! < stepped[90]!, '...going back as well: order is by seq, never by ts');
});
