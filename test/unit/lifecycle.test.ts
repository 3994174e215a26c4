import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Backoff, sleep } from '../../agent/lifecycle/backoff.js';
import type { Component } from '../../agent/lifecycle/component.js';
import { Supervisor } from '../../agent/lifecycle/supervisor.js';

const log = pino({ level: 'silent' });

function recorder(calls: string[], name: string, stopMs = 0): Component {
  return {
    name,
    async start() {
      calls.push(`start ${name}`);
    },
    async stop() {
      calls.push(`stop ${name}`);
      if (stopMs) await sleep(stopMs);
      calls.push(`stopped ${name}`);
    },
  };
}

test('the supervisor starts in order and stops in reverse, once', async () => {
  const calls: string[] = [];
  const sup = new Supervisor([recorder(calls, 'store'), recorder(calls, 'sync'), recorder(calls, 'camera')], log);
  await sup.start();
  await Promise.all([sup.stop(1000), sup.stop(1000)]);
  assert.deepEqual(calls, [
    'start store', 'start sync', 'start camera',
    'stop camera', 'stopped camera', 'stop sync', 'stopped sync', 'stop store', 'stopped store',
  ]);
});

test('the stop deadline is shared: a stuck component does not hold the rest forever', async () => {
  const calls: string[] = [];
  const sup = new Supervisor([recorder(calls, 'store'), recorder(calls, 'stuck', 10_000)], log);
  await sup.start();
  const t0 = performance.now();
  await sup.stop(200);
  const took = performance.now() - t0;
  assert.ok(took < 1000, `stop took ${took} ms`);
  assert.ok(calls.includes('stop store'), 'the next component is still stopped');
});

test('a failed start stops what already started and reports the error', async () => {
  const calls: string[] = [];
  const broken: Component = { name: 'broken', start: async () => { throw new Error('no'); }, stop: async () => { calls.push('stop broken'); } };
  const sup = new Supervisor([recorder(calls, 'store'), broken, recorder(calls, 'camera')], log);
  await assert.rejects(sup.start(), /no/);
  assert.deepEqual(calls, ['start store', 'stop store', 'stopped store']);
});

test('backoff grows exponentially with full jitter and resets', () => {
  const top = new Backoff({ minMs: 100, maxMs: 1000, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => top.next()), [100, 200, 400, 800, 1000, 1000]);
  top.reset();
  assert.equal(top.next(), 100);
  const bottom = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual([1, 2, 3].map(() => bottom.next()), [100, 100, 100]);
  const mid = new Backoff({ minMs: 100, maxMs: 1000, random: () => 0.5 });
  mid.next();
  assert.equal(mid.next(), 150);
});

test('sleep ends early when aborted', async () => {
  const ctl = new AbortController();
  const t0 = performance.now();
  setTimeout(() => ctl.abort(), 20);
  await sleep(5000, ctl.signal);
  assert.ok(performance.now() - t0 < 1000);
});
