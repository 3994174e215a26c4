import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { quantise } from '../../agent/explain/quantise.js';
import { decode } from '../../central/ingest/messages.js';
import { occlusionHeat } from '../../protocol/explanations.js';

const topic = 'edge/v1/gw-1/explanations';
const map = (over: Record<string, unknown> = {}) => ({ rows: 2, cols: 2, ...quantise([0.5, -0.1, 0.02, 0.3]), label: 'defect', classIndex: 1, score: 0.99, fill: 'mean', runs: 5, batched: false, ...over });
const batch = (values: unknown, method = 'occlusion') => gzipSync(JSON.stringify({ v: 1, device: 'gw-1', explanations: [{ seq: 3, ts: 1, model: 'defect', method, values }] }));

test('a quantised occlusion map reads back within half a step, and its hottest cell stays the hottest', () => {
  const values = [0.5, -0.1, 0.02, 0.3];
  const back = occlusionHeat(quantise(values));
  const step = (0.5 - -0.1) / 255;
  values.forEach((v, i) => assert.ok(Math.abs(back[i]! - v) <= step / 2 + 1e-12, `${back[i]} vs ${v}`));
  assert.equal(back.indexOf(Math.max(...back)), 0);
  assert.throws(() => quantise([1, Number.NaN]), /cannot quantise NaN/);
});

test('central ingest checks every explanation against its method before storing it', () => {
  assert.equal(decode('edge/v1', topic, batch(map())).ok, true);
  const refused = (values: unknown, method = 'occlusion') => {
    const r = decode('edge/v1', topic, batch(values, method));
    assert.equal(r.ok, false, JSON.stringify(values));
    return r.ok ? '' : r.reason;
  };
  assert.match(refused(map({ heat: Buffer.from([1, 2, 3]).toString('base64') })), /rows × cols/);
  refused(map({ min: 1, max: 0 }));
  refused(map({ rows: 64 }));
  refused(map({ extra: true }));
  refused({ grid: [[0.1, 0.9]] });
  refused(map(), 'magic');
  refused({ features: ['a', 'b'], values: [1], baseValue: 0, prediction: 1, output: 'worn', exact: true, coalitions: 4, backgroundRows: 2 }, 'shapley');
  assert.equal(decode('edge/v1', topic, batch({ features: ['a', 'b'], values: [0.25, 0.5], baseValue: 0.2, prediction: 0.95, output: 'worn', exact: true, coalitions: 4, backgroundRows: 2 }, 'shapley')).ok, true);
  assert.equal(decode('edge/v1', topic, batch({ width: 320, height: 240, boxes: [{ x0: 1, y0: 2, x1: 30, y1: 40, label: 'face', score: 0.9 }] }, 'boxes')).ok, true);
});
