import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalBytes, canonicalJson } from '../../protocol/canonical.js';

test('object keys are sorted, nothing else moves, and there is no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: 2, c: { z: [3, 2, 1], y: null } }), '{"a":2,"b":1,"c":{"y":null,"z":[3,2,1]}}');
  assert.equal(canonicalJson([{ b: true, a: false }, 'x', []]), '[{"a":false,"b":true},"x",[]]');
  assert.equal(canonicalJson({}), '{}');
  assert.equal(canonicalJson('plain'), '"plain"');
  assert.equal(canonicalJson(null), 'null');
});

test('the same value written in any key order has one canonical form', () => {
  const a = JSON.parse('{"name":"defect","artifacts":[{"sha256":"ab","path":"model.onnx"}],"counter":3}') as unknown;
  const b = JSON.parse('{ "counter" : 3, "artifacts" : [ { "path" : "model.onnx", "sha256" : "ab" } ], "name" : "defect" }') as unknown;
  assert.equal(canonicalJson(a), canonicalJson(b));
});

test('keys sort by UTF-16 code units, not by code points (RFC 8785 §3.2.3)', () => {
  const input = JSON.parse(
    '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
  ) as unknown;
  // Read back with a regex: JSON.parse + Object.keys would list the integer-like key "1" first.
  const keys = [...canonicalJson(input).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  // U+1F600 is stored as D83D DE00, which sorts before U+FB33 although its code point is larger.
  assert.deepEqual(keys, ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
});

test('RFC 8785 §3.2.2 sample: literals, numbers and string escapes', () => {
  const input = JSON.parse(
    '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
  ) as unknown;
  assert.equal(canonicalJson(input), '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
});

test('numbers take the shortest form that reads back to the same double', () => {
  const cases: Array<[number, string]> = [
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [0.000001, '0.000001'],
    [-0, '0'],
    [0.1 + 0.2, '0.30000000000000004'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [9007199254740991, '9007199254740991'],
    [-1.5, '-1.5'],
  ];
  for (const [n, text] of cases) assert.equal(canonicalJson(n), text, `${n}`);
  assert.equal(canonicalJson({ v: -0 }), '{"v":0}');
});

test('unicode is written as itself; only quote, backslash and control characters are escaped', () => {
  assert.equal(canonicalJson('Größe 😀 \u2028'), '"Größe 😀 \u2028"');
  assert.equal(canonicalJson('tab\there\u0001\u007f'), '"tab\\there\\u0001\u007f"');
  assert.deepEqual(canonicalBytes({ ä: 'ö' }), Buffer.from('{"ä":"ö"}', 'utf8'));
});

test('undefined object properties are omitted, as after a JSON round trip', () => {
  assert.equal(canonicalJson({ a: undefined, b: 1, c: { d: undefined } }), '{"b":1,"c":{}}');
});

test('values with no single JSON form are refused with their path', () => {
  class Part {
    id = 1;
  }
  const sparse: unknown[] = [1];
  sparse[2] = 3;
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cases: Array<[unknown, RegExp]> = [
    [NaN, /at \$: NaN/],
    [{ a: [1, Infinity] }, /at \$\.a\[1\]: Infinity/],
    [{ a: -Infinity }, /at \$\.a: -Infinity/],
    [[1, undefined], /at \$\[1\]: undefined/],
    [undefined, /at \$: undefined/],
    [{ f: () => 1 }, /at \$\.f: a function/],
    [{ n: 10n }, /at \$\.n: a bigint/],
    [{ s: Symbol('x') }, /at \$\.s: a symbol/],
    [{ [Symbol('k')]: 1 }, /symbol keys/],
    [{ when: new Date(0) }, /at \$\.when: a Date is not a plain object/],
    [new Map([['a', 1]]), /a Map is not a plain object/],
    [{ part: new Part() }, /a Part is not a plain object/],
    [new Uint8Array(2), /a Uint8Array is not a plain object/],
    [sparse, /at \$\[1\]: a hole/],
    [{ s: 'half \ud83d' }, /lone UTF-16 surrogate/],
    [{ ['\udc00']: 1 }, /lone UTF-16 surrogate/],
    [cyclic, /at \$\.self: the value contains itself/],
  ];
  for (const [value, why] of cases) assert.throws(() => canonicalJson(value), (err: Error) => err instanceof TypeError && why.test(err.message), String(why));
});

test('objects without a prototype and repeated (non-cyclic) references are fine', () => {
  const bare = Object.create(null) as Record<string, unknown>;
  bare.b = 2;
  bare.a = 1;
  const shared = { x: 1 };
  assert.equal(canonicalJson({ bare, p: shared, q: shared }), '{"bare":{"a":1,"b":2},"p":{"x":1},"q":{"x":1}}');
});
