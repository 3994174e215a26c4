import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame, FrameOutcome } from '../../agent/frame.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';

function frame(id: string, outcomes: Map<string, FrameOutcome> = new Map()): Frame {
  return { source: 'cam', id, data: Buffer.alloc(0), ts: 0, arrivedAt: 0, settle: (o) => outcomes.set(id, o) };
}

test('offer keeps the newest frames and reports each dropped one', async () => {
  const dropped: string[] = [];
  const q = new FrameQueue(2, (f) => dropped.push(f.id));
  for (const id of ['a', 'b', 'c', 'd']) q.offer(frame(id));
  assert.deepEqual(dropped, ['a', 'b']);
  assert.equal(q.dropped, 2);
  assert.equal((await q.take())?.id, 'c');
  assert.equal((await q.take())?.id, 'd');
});

test('put waits for room instead of dropping', async () => {
  const q = new FrameQueue(1);
  await q.put(frame('a'));
  let second = false;
  const p = q.put(frame('b')).then(() => (second = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(second, false, 'put must wait while the queue is full');
  assert.equal((await q.take())?.id, 'a');
  await p;
  assert.equal((await q.take())?.id, 'b');
  assert.equal(q.dropped, 0);
});

test('a waiting taker gets the frame directly; close drains then ends', async () => {
  const q = new FrameQueue(2);
  const taken = q.take();
  q.offer(frame('a'));
  assert.equal((await taken)?.id, 'a');
  q.offer(frame('b'));
  q.close();
  assert.equal((await q.take())?.id, 'b', 'frames queued before close are still handed out');
  assert.equal(await q.take(), undefined);
});

test('frames offered after close are refused, not lost silently', () => {
  const outcomes = new Map<string, FrameOutcome>();
  const q = new FrameQueue(2);
  q.close();
  q.offer(frame('late', outcomes));
  assert.deepEqual(outcomes.get('late'), { ok: false, code: 'E_STOPPING', reason: 'agent is stopping' });
});

test('waitForFrame does not take: a frame waiting for the pipeline is still replaced by a newer one', async () => {
  const dropped: string[] = [];
  const q = new FrameQueue(1, (f) => dropped.push(f.id));
  let ready: boolean | undefined;
  const waiting = q.waitForFrame().then((r) => (ready = r));
  await new Promise((r) => setImmediate(r));
  assert.equal(ready, undefined, 'nothing queued yet');
  q.offer(frame('a'));
  await waiting;
  assert.equal(ready, true);
  // The pipeline is busy: the camera's next frame replaces the one still waiting.
  q.offer(frame('b'));
  assert.deepEqual(dropped, ['a']);
  assert.equal(q.takeNow()?.id, 'b');
  assert.equal(q.takeNow(), undefined);
  q.close();
  assert.equal(await q.waitForFrame(), false, 'closed and empty');
});

test('takeNow makes room for a waiting put', async () => {
  const q = new FrameQueue(1);
  await q.put(frame('a'));
  const p = q.put(frame('b'));
  assert.equal(q.takeNow()?.id, 'a');
  await p;
  assert.equal(q.takeNow()?.id, 'b');
});
