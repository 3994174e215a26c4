import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cadence } from '../../agent/pipeline/cadence.js';

test('a steady camera: work that would still run when the next frame is due is held back, shorter work is not', () => {
  const c = new Cadence();
  assert.equal(c.overlapsNext(0, 50), false, 'no arrivals yet: nothing to wait for');
  for (let i = 0; i <= 10; i++) c.arrived(i * 33);
  // Last arrival at 330, the next due at 363.
  assert.equal(c.overlapsNext(350, 10), false, 'done at 360, before the frame');
  assert.equal(c.overlapsNext(350, 20), true, 'done at 370, after the frame came');
  assert.equal(c.overlapsNext(362, 0.5), false);
});

test('a source that missed two intervals is taken as stopped, so background work is never starved', () => {
  const c = new Cadence();
  for (let i = 0; i <= 10; i++) c.arrived(i * 33);
  assert.equal(c.overlapsNext(395, 100), true, 'one frame late: still expected');
  assert.equal(c.overlapsNext(400, 100), false, 'beyond two intervals: not coming');
});

test('the interval follows the source as its rate changes', () => {
  const c = new Cadence();
  let t = 0;
  for (let i = 0; i < 40; i++) c.arrived((t += 100));
  assert.equal(c.overlapsNext(t + 50, 40), false, '10 frames/s: 40 ms of work fits in the gap');
  for (let i = 0; i < 40; i++) c.arrived((t += 20));
  assert.equal(c.overlapsNext(t + 5, 40), true, '50 frames/s: the same work now overlaps the next frame');
});
