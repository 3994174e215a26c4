import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { mulberry32, mixSeed } from '../../agent/sources/camera/prng.js';

const opts = { width: 320, height: 240, defectRate: 0.25, seed: 7 };

test('the same part number always renders the same bytes', () => {
  for (const index of [0, 1, 17, 999]) {
    const a = renderPart(index, opts);
    const b = renderPart(index, opts);
    assert.equal(a.rgb.length, opts.width * opts.height * 3);
    assert.ok(a.rgb.equals(b.rgb), `part ${index} differs between renders`);
    assert.deepEqual(a.defects, b.defects);
  }
});

test('different part numbers and seeds give different parts', () => {
  const a = renderPart(3, opts);
  assert.ok(!a.rgb.equals(renderPart(4, opts).rgb));
  assert.ok(!a.rgb.equals(renderPart(3, { ...opts, seed: 8 }).rgb));
});

test('the share of defective parts follows defectRate', () => {
  for (const defectRate of [0.1, 0.5]) {
    let defective = 0;
    for (let i = 0; i < 400; i++) {
      const part = renderPart(i, { width: 64, height: 48, defectRate, seed: 3 });
      if (part.defects.length > 0) defective++;
    }
    const share = defective / 400;
    assert.ok(Math.abs(share - defectRate) < 0.06, `share ${share} for defectRate ${defectRate}`);
  }
});

test('defect-free parts report no defects, and defective ones say what and where', () => {
  for (let i = 0; i < 50; i++) assert.deepEqual(renderPart(i, { ...opts, defectRate: 0 }).defects, []);
  const kinds = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const { defects } = renderPart(i, { ...opts, defectRate: 1 });
    assert.ok(defects.length >= 1 && defects.length <= 2);
    for (const d of defects) {
      kinds.add(d.kind);
      assert.ok(d.x >= 0 && d.x < opts.width && d.y >= 0 && d.y < opts.height, `defect at ${d.x},${d.y}`);
      assert.ok(d.size > 0);
    }
  }
  assert.deepEqual([...kinds].sort(), ['scratch', 'spot']);
});

test('a defective part differs from its defect-free twin only around the defect', () => {
  const { width, height } = opts;
  for (let i = 0; i < 10; i++) {
    const bad = renderPart(i, { ...opts, defectRate: 1 });
    const good = renderPart(i, { ...opts, defectRate: 0 });
    let changed = 0;
    let far = 0;
    for (let p = 0; p < width * height; p++) {
      if (bad.rgb[p * 3 + 1] === good.rgb[p * 3 + 1]) continue;
      changed++;
      const x = p % width;
      const y = Math.floor(p / width);
      if (!bad.defects.some((d) => Math.hypot(x - d.x, y - d.y) <= d.size / 2 + 3)) far++;
    }
    assert.ok(changed > 0, `part ${i}: defect left no mark`);
    assert.equal(far, 0, `part ${i}: ${far} pixels changed away from the defects`);
  }
});

test('the camera sends a JPEG of the right size', async () => {
  const jpeg = await encodePartJpeg(renderPart(5, opts));
  const meta = await sharp(jpeg).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(meta.width, opts.width);
  assert.equal(meta.height, opts.height);
});

test('the seeded generator repeats and stays in [0, 1)', () => {
  const a = mulberry32(mixSeed(1, 2));
  const b = mulberry32(mixSeed(1, 2));
  for (let i = 0; i < 1000; i++) {
    const v = a();
    assert.equal(v, b());
    assert.ok(v >= 0 && v < 1);
  }
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
});
