import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32ToHalfArray, fromHalf, halfToFloat32Array, toHalf } from '../../agent/preprocess/float16.js';

const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;
const isNaNHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

test('float32 -> half: known values', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0.1, 0x2e66],
    [65504, 0x7bff], // largest finite half
    [65505, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // halfway to 65536: ties to even, which is the Inf pattern
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [6.1e-5, 0x03ff], // just below it: the largest subnormal
    [2 ** -14 - 2 ** -25, 0x0400], // halfway between largest subnormal (odd) and smallest normal: rounds up
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even (0)
    [2 ** -25 + 2 ** -40, 0x0001], // just above halfway
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: even (2)
    [5 * 2 ** -25, 0x0002], // halfway between 2 and 3: even (2)
    [-(2 ** -24), 0x8001],
    [1e-10, 0x0000],
    [-1e-10, 0x8000],
    [1e-45, 0x0000], // a float32 subnormal
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [v, want] of cases) assert.equal(hex(toHalf(v)), hex(want), `toHalf(${v})`);
});

test('float32 -> half: rounding ties go to even', () => {
  assert.equal(hex(toHalf(1 + 2 ** -11)), '0x3c00'); // between 0x3c00 (even) and 0x3c01
  assert.equal(hex(toHalf(1 + 3 * 2 ** -11)), '0x3c02'); // between 0x3c01 and 0x3c02 (even)
  assert.equal(hex(toHalf(1 + 2 ** -11 + 2 ** -20)), '0x3c01'); // above the tie
  assert.equal(hex(toHalf(1 + 2 ** -11 - 2 ** -20)), '0x3c00'); // below the tie
  assert.equal(hex(toHalf(2049)), '0x6800'); // halves are 2 apart here: 2048 (even) wins
  assert.equal(hex(toHalf(2051)), '0x6802'); // 2052 (even) wins
  assert.equal(hex(toHalf(-2049)), '0xe800');
});

test('float32 -> half: NaN stays NaN (quiet), with either sign', () => {
  assert.ok(isNaNHalf(toHalf(NaN)), hex(toHalf(NaN)));
  assert.ok(isNaNHalf(toHalf(-NaN)));
  // A signalling NaN whose payload lives only in the low bits must not collapse into Inf.
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = 0x7f800001;
  assert.ok(isNaNHalf(toHalf(f[0]!)));
});

test('half -> float32: known values', () => {
  const cases: Array<[number, number]> = [
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3555, 0.333251953125],
    [0x7bff, 65504],
    [0x0400, 2 ** -14],
    [0x03ff, 1023 * 2 ** -24],
    [0x0001, 2 ** -24],
    [0x8001, -(2 ** -24)],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  for (const [h, want] of cases) assert.equal(fromHalf(h), want, `fromHalf(${hex(h)})`);
  assert.ok(Object.is(fromHalf(0x8000), -0));
  assert.ok(Number.isNaN(fromHalf(0x7e00)));
  assert.ok(Number.isNaN(fromHalf(0xfe01)));
});

test('every half round-trips, and every midpoint between neighbours ties to even', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = fromHalf(h);
    if (isNaNHalf(h)) {
      assert.ok(Number.isNaN(v));
      assert.ok(isNaNHalf(toHalf(v)));
      continue;
    }
    if (toHalf(v) !== h) assert.fail(`${hex(h)} -> ${v} -> ${hex(toHalf(v))}`);
  }
  // Positive finite neighbours h, h+1 (0x0000..0x7bff); the midpoint needs 12 significant bits,
  // so it is exact in float32 and must go to whichever of the two is even.
  for (let h = 0; h < 0x7bff; h++) {
    const lo = fromHalf(h);
    const hi = fromHalf(h + 1);
    const mid = (lo + hi) / 2;
    const even = h % 2 === 0 ? h : h + 1;
    if (toHalf(mid) !== even) assert.fail(`midpoint of ${hex(h)} and ${hex(h + 1)} -> ${hex(toHalf(mid))}`);
    if (toHalf(-mid) !== (even | 0x8000)) assert.fail(`negative midpoint of ${hex(h)}`);
    // A float32 step either side of the midpoint decides it.
    const step = (hi - lo) / 1024;
    if (toHalf(mid - step) !== h) assert.fail(`just below midpoint of ${hex(h)}`);
    if (toHalf(mid + step) !== h + 1) assert.fail(`just above midpoint of ${hex(h)}`);
  }
});

test('array conversions write into a given buffer and refuse a short one', () => {
  const src = Float32Array.from([0, 1, -2, 65504, Infinity]);
  const halves = float32ToHalfArray(src);
  assert.deepEqual([...halves].map(hex), ['0x0000', '0x3c00', '0xc000', '0x7bff', '0x7c00']);
  const back = new Float32Array(8);
  assert.equal(halfToFloat32Array(halves, back), back);
  assert.deepEqual([...back.subarray(0, 5)], [0, 1, -2, 65504, Infinity]);
  assert.throws(() => float32ToHalfArray(src, new Uint16Array(2)), RangeError);
  assert.throws(() => halfToFloat32Array(halves, new Float32Array(2)), RangeError);
});
