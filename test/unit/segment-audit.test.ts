import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../agent/buffer/database.js';
import { SegmentsSchema } from '../../agent/config/feedback-schema.js';
import type { AgentEvent } from '../../agent/events.js';
import { SegmentAudit } from '../../agent/segments/segment-audit.js';
import { SegmentStatsStore } from '../../agent/segments/segment-store.js';
import { TagBoard } from '../../agent/features/tag-board.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * Segment audits over a real SQLite file with an injected clock: cameras with the same
 * class mix raise nothing; one camera whose mix shifted raises `segment_disparity` naming
 * it alone (the others are compared with the typical camera, not with a pool it distorts),
 * once, and `segment_disparity_cleared` when its mix is back.
 */

function rig(dir: string) {
  let mono = 0;
  const clock = { now: () => 1_700_000_000_000 + mono, monotonic: () => mono };
  const events: AgentEvent[] = [];
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  const store = new SegmentStatsStore(db);
  const audit = new SegmentAudit({ config: SegmentsSchema.parse({ periodS: 60, minPredictions: 50 }), store, events: { record: (e) => events.push(e) }, clock, log: silentLog });
  /** `n` predictions of camera `cam`, every `every`-th one a defect (deterministic mixes). */
  const feed = (cam: string, n: number, defectEvery: number) => {
    for (let i = 0; i < n; i++) audit.observe('defect', cam, i % defectEvery === 0 ? 'defect' : 'ok', 0.9, undefined);
  };
  return { audit, events, store, db, feed, advance: (ms: number) => (mono += ms) };
}

test('cameras with one class mix raise no disparity; a camera whose mix shifted raises one, alone, then clears', async (t) => {
  const dir = await tempDir(t, 'segments-');
  const { audit, events, store, db, feed, advance } = rig(dir);
  t.after(() => db.close());

  for (const cam of ['cam-a', 'cam-b', 'cam-c']) feed(cam, 100, 10);
  advance(60_000);
  audit.closePeriod();
  assert.equal(events.length, 0, 'the same mix everywhere: nothing to report');
  assert.equal(store.unsent(100).length, 3, 'one row per camera and period');

  // cam-c now sees half defects; the others stay at one in ten.
  feed('cam-a', 100, 10);
  feed('cam-b', 100, 10);
  feed('cam-c', 100, 2);
  advance(60_000);
  audit.closePeriod();
  assert.equal(events.length, 1, JSON.stringify(events));
  const e = events[0]!;
  assert.equal(e.kind, 'segment_disparity');
  assert.deepEqual({ value: e.detail?.value, key: e.detail?.key, measure: e.detail?.measure, difference: e.detail?.difference }, { value: 'cam-c', key: 'camera', measure: 'classMix', difference: 0.4 });
  const view = audit.view().lastPeriod!;
  assert.equal(view.segments.find((s) => s.value === 'cam-c')?.classes.defect, 50);

  // Still shifted: no second event. Back to normal: cleared.
  feed('cam-a', 100, 10);
  feed('cam-b', 100, 10);
  feed('cam-c', 100, 2);
  advance(60_000);
  audit.closePeriod();
  assert.equal(events.length, 1, 'one event per disparity, not one per period');
  for (const cam of ['cam-a', 'cam-b', 'cam-c']) feed(cam, 100, 10);
  advance(60_000);
  audit.closePeriod();
  assert.deepEqual(events.map((x) => x.kind), ['segment_disparity', 'segment_disparity_cleared']);
});

test('a period closes by time on the next prediction; segments with too few predictions are stored but not judged', async (t) => {
  const dir = await tempDir(t, 'segments-');
  const { audit, events, store, db, feed, advance } = rig(dir);
  t.after(() => db.close());
  feed('cam-a', 100, 10);
  feed('cam-b', 10, 1);
  advance(59_000);
  feed('cam-a', 1, 10);
  assert.equal(store.unsent(10).length, 0, 'the period is still open');
  advance(1000);
  feed('cam-a', 1, 10);
  const rows = store.unsent(10);
  assert.deepEqual(rows.map((r) => [r.value, r.predictions]), [['cam-a', 102], ['cam-b', 10]]);
  assert.equal(events.length, 0, 'cam-b has fewer than minPredictions: not compared');
  store.markSent(rows.map((r) => r.id), 1);
  assert.equal(store.unsent(10).length, 0);
});

test('a segment key read from an OPC-UA tag: each prediction counts under the product code current when it was made', async (t) => {
  const dir = await tempDir(t, 'segments-');
  const db = openDatabase({ path: join(dir, 'agent.db'), busyTimeoutMs: 1000 });
  t.after(() => db.close());
  const store = new SegmentStatsStore(db);
  const clock = { now: () => 1_700_000_000_000, monotonic: () => 0 };
  const config = SegmentsSchema.parse({ keys: [{ name: 'camera' }, { name: 'product', from: 'tag', tag: 'ProductCode' }], minPredictions: 10 });
  const audit = new SegmentAudit({ config, store, events: { record: () => undefined }, clock, log: silentLog });
  const board = new TagBoard();
  board.addTag('ProductCode', 'plc');
  audit.board = board;
  audit.observe('defect', 'cam1', 'ok', 0.9, undefined);
  const product = (code: string, ts: number) => board.push({ tag: 'ProductCode', value: code, quality: 'good', status: 'Good', sourceTs: ts, receivedAt: ts });
  product('A-100', 1);
  for (let i = 0; i < 3; i++) audit.observe('defect', 'cam1', 'ok', 0.9, undefined);
  product('B-200', 2);
  for (let i = 0; i < 2; i++) audit.observe('defect', 'cam1', 'defect', 0.8, 'fallback');
  audit.closePeriod();
  const rows = store.unsent(10).filter((r) => r.key === 'product');
  assert.deepEqual(rows.map((r) => [r.value, r.predictions, r.fallbackShare]).sort(), [['A-100', 3, 0], ['B-200', 2, 1], ['unknown', 1, 0]]);
  assert.equal(store.unsent(10).find((r) => r.key === 'camera')?.predictions, 6);
});
