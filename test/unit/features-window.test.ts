import assert from 'node:assert/strict';
import test from 'node:test';
import { WindowSchema } from '../../agent/config/sensor-schema.js';
import { FeatureAssembler } from '../../agent/features/assemble.js';
import { featureValue, windowStats } from '../../agent/features/features.js';
import { SensorWindow } from '../../agent/features/sensor-window.js';
import { TagBoard } from '../../agent/features/tag-board.js';
import type { TagSample } from '../../agent/features/tag-sample.js';

const T0 = 1_767_254_400_000;
const good = (tag: string, value: number, at: number): TagSample => ({ tag, value, quality: 'good', status: 'Good', sourceTs: T0 + at, receivedAt: at });

test('window statistics: last, mean, min, max, std, slope and count over (end - size, end]', () => {
  const w = new SensorWindow(10_000);
  // 1, 2, 3, 4 at 0.1 s steps: slope 10/s; the sample at exactly end - size is outside.
  [0, 1, 2, 3, 4].forEach((v, i) => w.push(good('a', v, i * 100)));
  const s = windowStats(w, T0 + 400, 400);
  assert.equal(s.count, 4);
  assert.equal(s.last, 4);
  assert.equal(s.mean, 2.5);
  assert.equal(s.min, 1);
  assert.equal(s.max, 4);
  assert.ok(Math.abs(s.std - Math.sqrt(1.25)) < 1e-12);
  assert.ok(Math.abs(s.slope - 10) < 1e-9, `slope ${s.slope}`);
  for (const fn of ['last', 'mean', 'min', 'max', 'std', 'slope', 'count'] as const) assert.ok(Number.isFinite(featureValue(s, fn)), fn);
});

test('a tag reported on change holds its value through a window without samples; a gap or a Bad reading ends that', () => {
  const w = new SensorWindow(60_000);
  w.push(good('a', 7, 0));
  const held = windowStats(w, T0 + 5000, 1000);
  assert.equal(held.count, 0);
  assert.equal(held.last, 7);
  assert.equal(held.mean, 7);
  assert.equal(held.currentGood, true);
  w.push({ tag: 'a', value: null, quality: 'bad', status: 'BadNoCommunication', sourceTs: T0 + 6000, receivedAt: 6000, gap: true });
  const afterGap = windowStats(w, T0 + 9000, 1000);
  assert.equal(afterGap.currentGood, false);
  assert.ok(Number.isNaN(afterGap.mean));
  assert.equal(afterGap.gap, true);
  w.push({ ...good('a', 7, 0), sourceTs: T0 + 9500, held: true });
  const resumed = windowStats(w, T0 + 12_000, 1000);
  assert.equal(resumed.currentGood, true, 'the server confirmed the value after the gap');
  assert.equal(resumed.last, 7);
  w.push({ tag: 'a', value: 8, quality: 'uncertain', status: 'UncertainLastUsableValue', sourceTs: T0 + 12_500, receivedAt: 12_500 });
  const uncertain = windowStats(w, T0 + 13_000, 1000);
  assert.equal(uncertain.notGood, 1);
  assert.equal(uncertain.currentGood, false, 'an Uncertain reading is never used as if it were good');
});

test('the board drops a reading repeated with the same source timestamp and value, across a gap too', () => {
  const board = new TagBoard();
  board.addTag('sp', 'plc');
  const seen: TagSample[] = [];
  board.onSample((s) => seen.push(s));
  assert.equal(board.push(good('sp', 42, 0)), true);
  board.lost('plc', T0 + 100, 100);
  assert.equal(board.push(good('sp', 42, 0)), false, 'the re-created subscription sends the same reading again');
  assert.equal(board.tags.get('sp')!.duplicates, 1);
  assert.deepEqual(seen.map((s) => (s.gap ? 'gap' : s.value)), [42, 'gap']);
  assert.equal(windowStats(board.tags.get('sp')!.window, T0 + 5000, 1000).currentGood, true, 'the repeat ends the gap without counting as a sample');
  assert.equal(board.push(good('sp', 43, 200)), true);
});

test('assembler: aligned row, stale tags skipped or imputed and flagged by the window policy', () => {
  const board = new TagBoard();
  board.addTag('v', 'plc');
  board.addTag('t', 'plc');
  const features = [{ tag: 'v', fn: 'mean' as const }, { tag: 't', fn: 'last' as const, impute: 45 }];
  const skip = new FeatureAssembler(board, features, WindowSchema.parse({ everyMs: 1000, staleMs: 2000 }));
  const impute = new FeatureAssembler(board, features, WindowSchema.parse({ everyMs: 1000, staleMs: 2000, onMissing: 'impute' }));
  board.confirm('plc', 0);
  for (let i = 1; i <= 10; i++) board.push(good('v', i, i * 100));
  board.push(good('t', 50, 500));
  const row = skip.assemble(T0 + 1000, 1000);
  assert.equal(row.skip, undefined);
  assert.deepEqual(Array.from(row.values), [5.5, 50]);
  assert.deepEqual(row.features, { 'v.mean': 5.5, 't.last': 50 });
  assert.deepEqual(row.flags, []);
  board.push({ tag: 't', value: null, quality: 'bad', status: 'BadSensorFailure', sourceTs: T0 + 1100, receivedAt: 1100 });
  const bad = skip.assemble(T0 + 2000, 2000);
  assert.match(bad.skip ?? '', /^t\.last missing \(no good value\)$/);
  assert.ok(bad.flags.includes('quality:t'));
  const filled = impute.assemble(T0 + 2000, 2000);
  assert.equal(filled.skip, undefined);
  assert.equal(filled.values[1], 45);
  assert.ok(filled.flags.includes('imputed:t.last'));
  // No word from the server for longer than staleMs: even the held v is stale.
  const stale = skip.assemble(T0 + 5000, 5000);
  assert.match(stale.skip ?? '', /v\.mean missing \(stale\)/);
  assert.ok(stale.flags.includes('stale:v'));
});

test('window config: everyMs or trigger, exactly one, named in the error', () => {
  const both = WindowSchema.safeParse({ everyMs: 1000, trigger: { tag: 'x' } });
  assert.equal(both.success, false);
  assert.deepEqual(both.error!.issues.map((i) => [i.path.join('.'), i.message]), [['everyMs', 'give everyMs or trigger, exactly one']]);
});
