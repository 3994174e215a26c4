import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePayload } from '../../protocol/parse.js';
import { batchIdOf, PredictionBatch, type PredictionRecord } from '../../protocol/predictions.js';
import { deviceOfTopic, deviceTopics, fleetFilters } from '../../protocol/topics.js';

function record(seq: number): PredictionRecord {
  return { seq, ts: 1_700_000_000_000, source: 'cam1', frameId: `f${seq}`, model: 'defect', modelVersion: '1.0.0', label: 'ok', score: 0.98, topK: [{ label: 'ok', score: 0.98 }], latencyMs: 12.5 };
}

function batch(first: number, last: number, device = 'gw1') {
  const predictions = [];
  for (let s = first; s <= last; s++) predictions.push(record(s));
  return { v: 1, batchId: batchIdOf(device, first, last), device, first, last, sentAt: 1_700_000_000_500, predictions };
}

const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

test('topics are derived from the prefix and the device id', () => {
  assert.deepEqual(deviceTopics('edge/v1', 'gw1'), { predictions: 'edge/v1/gw1/predictions', status: 'edge/v1/gw1/status', events: 'edge/v1/gw1/events', rollout: 'edge/v1/gw1/rollout' });
  assert.equal(fleetFilters('edge/v1').predictions, 'edge/v1/+/predictions');
  assert.equal(deviceOfTopic('edge/v1', 'edge/v1/gw1/predictions'), 'gw1');
  assert.equal(deviceOfTopic('edge/v1', 'other/gw1/predictions'), undefined);
  assert.equal(deviceOfTopic('edge/v1', 'edge/v1/bad id/predictions'), undefined);
});

test('a well-formed batch parses; its id is derived from device and sequence range', () => {
  const r = parsePayload(PredictionBatch, bytes(batch(5, 7)), 1 << 20);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.value.batchId, 'gw1:5-7');
});

test('inbound payloads are refused with a reason naming what was wrong', () => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.alloc(2048, 0x20), /exceeds the limit of 1024/],
    [Buffer.from('{"v":1,'), /^not JSON/],
    [bytes({ ...batch(5, 7), batchId: 'gw1:1-2' }), /^batchId: batchId does not match/],
    [bytes({ ...batch(5, 7), first: 4, batchId: batchIdOf('gw1', 4, 7) }), /^first: first\/last do not match/],
    [bytes({ ...batch(5, 5), predictions: [] }), /predictions/],
    [bytes({ ...batch(5, 5), v: 2 }), /^v: /],
    [bytes({ ...batch(5, 5), predictions: [{ ...record(5), seq: -1 }] }), /^predictions\.0\.seq: /],
  ];
  for (const [payload, reason] of cases) {
    const r = parsePayload(PredictionBatch, payload, 1024);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  }
});
