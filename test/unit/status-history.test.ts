import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricHistory } from '../../agent/status/history.js';
import { BadQuery, historyQuery } from '../../agent/status/query.js';

const sample = (ts: number, v: number) => ({ ts, predictionsPerS: v, p50Ms: v % 3 === 0 ? null : v / 10, p99Ms: v, outboxPending: v * 2 });

test('the chart ring keeps at most its capacity, oldest dropped, in time order', () => {
  const h = new MetricHistory(10_000, 360);
  for (let i = 0; i < 1000; i++) h.record(sample(i * 10_000, i));
  assert.equal(h.length, 360);
  const all = h.since(0);
  assert.equal(all.ts.length, 360, 'bounded whatever the uptime');
  assert.equal(all.ts[0], 640 * 10_000, 'the oldest 640 samples were overwritten');
  assert.equal(all.ts.at(-1), 999 * 10_000);
  assert.ok(all.ts.every((t, i) => i === 0 || t > all.ts[i - 1]!), 'oldest first');
  assert.equal(all.stepS, 10);
  // Columns line up, and "nothing measured" comes back as null, not NaN or 0.
  assert.deepEqual([all.predictionsPerS[0], all.p50Ms[0], all.p99Ms[0], all.outboxPending[0]], [640, 64, 640, 1280]);
  assert.equal(all.p50Ms[all.ts.indexOf(642 * 10_000)], null);
  assert.ok(JSON.stringify(all).length < 30_000, `an hour is ${JSON.stringify(all).length} bytes of JSON`);
});

test('since() leaves out older samples and appends a reading taken now', () => {
  const h = new MetricHistory(10_000, 6);
  assert.deepEqual(h.since(0).ts, [], 'empty before the first sample');
  for (let i = 1; i <= 4; i++) h.record(sample(i * 1000, i));
  const part = h.since(2500, { ts: 5000, predictionsPerS: 1.23456, p50Ms: null, p99Ms: 7.777, outboxPending: 3 });
  assert.deepEqual(part.ts, [3000, 4000, 5000]);
  assert.deepEqual(part.predictionsPerS, [3, 4, 1.23], 'rounded to two decimals');
  assert.deepEqual(part.p50Ms, [null, 0.4, null]);
  assert.deepEqual(part.p99Ms, [3, 4, 7.78]);
  assert.deepEqual(part.outboxPending, [6, 8, 3]);
  assert.deepEqual(h.since(9000, { ts: 1000, predictionsPerS: 0, p50Ms: null, p99Ms: null, outboxPending: 0 }).ts, [], 'a live reading before the span is left out too');
});

test('?minutes= is a whole number from 1 to 60, 60 when absent; anything else is a BadQuery naming the parameter and the value', () => {
  assert.deepEqual(historyQuery(new URLSearchParams('')), { minutes: 60 });
  assert.deepEqual(historyQuery(new URLSearchParams('minutes=')), { minutes: 60 });
  assert.deepEqual(historyQuery(new URLSearchParams('minutes=1')), { minutes: 1 });
  assert.deepEqual(historyQuery(new URLSearchParams('minutes=15')), { minutes: 15 });
  for (const bad of ['0', '61', '-5', '1.5', '1e1', 'abc', ' 5', '0x10', '9999']) {
    assert.throws(() => historyQuery(new URLSearchParams({ minutes: bad })), (err: Error) => {
      assert.ok(err instanceof BadQuery);
      assert.equal(err.message, `minutes must be a whole number from 1 to 60, got "${bad}"`);
      return true;
    }, bad);
  }
  const long = 'x'.repeat(500);
  assert.throws(() => historyQuery(new URLSearchParams({ minutes: long })), /got "x{40}"$/, 'a long value is cut in the message');
});
