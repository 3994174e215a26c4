/*
 * The byte string a signature covers. A signed manifest travels as ordinary JSON (pretty-
 * printed, reordered by a proxy, re-serialised by another language), so signer and verifier
 * each rebuild one canonical form of the payload instead of trusting the bytes received.
 *
 * The rules follow RFC 8785 (JSON Canonicalization Scheme): object keys sorted by UTF-16
 * code units, no whitespace, strings escaped as JSON.stringify does, numbers in the
 * shortest form that reads back to the same double (ECMAScript Number::toString, which is
 * what JCS prescribes: 1e21 → "1e+21", -0 → "0").
 *
 * Anything JSON.stringify would silently drop, change or invent is refused instead, so a
 * value has exactly one canonical form or none: NaN and ±Infinity (stringify writes null),
 * bigint, functions and symbols, undefined inside an array (stringify writes null), sparse
 * arrays, class instances such as Date or Map (toJSON would decide the bytes), lone UTF-16
 * surrogates (not representable in UTF-8) and cycles.
 *
 * An object property whose value is undefined is left out, as JSON.stringify does: an
 * optional field that is absent and one that is present but undefined are the same
 * message, and after a JSON round trip they are indistinguishable anyway.
 */

/** The canonical JSON text of value (RFC 8785 style); throws a TypeError naming the path of anything that has no canonical form. */
export function canonicalJson(value: unknown): string {
  return write(value, '$', []);
}

/** The UTF-8 bytes a signature is computed over: canonicalJson(value) encoded. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

function write(value: unknown, path: string, parents: object[]): string {
  switch (typeof value) {
    case 'string':
      return writeString(value, path);
    case 'number':
      if (!Number.isFinite(value)) throw refuse(path, `${value} is not a JSON number`);
      // String(-0) is "0" as JCS wants; every other finite double is already shortest form.
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return writeContainer(value, path, parents);
    case 'undefined':
      throw refuse(path, 'undefined has no JSON form');
    default:
      throw refuse(path, `a ${typeof value} has no JSON form`);
  }
}

function writeContainer(value: object, path: string, parents: object[]): string {
  if (parents.includes(value)) throw refuse(path, 'the value contains itself (a cycle)');
  parents.push(value);
  try {
    if (Array.isArray(value)) return writeArray(value, path, parents);
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object';
      throw refuse(path, `a ${kind} is not a plain object`);
    }
    if (Object.getOwnPropertySymbols(value).length > 0) throw refuse(path, 'symbol keys have no JSON form');
    const record = value as Record<string, unknown>;
    // Array.prototype.sort compares strings by UTF-16 code units, exactly the JCS order.
    const keys = Object.keys(record).sort();
    const parts: string[] = [];
    for (const key of keys) {
      const v = record[key];
      if (v === undefined) continue;
      parts.push(`${writeString(key, `${path}[key]`)}:${write(v, `${path}.${key}`, parents)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    parents.pop();
  }
}

function writeArray(value: unknown[], path: string, parents: object[]): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) throw refuse(`${path}[${i}]`, 'a hole in a sparse array has no JSON form');
    parts.push(write(value[i], `${path}[${i}]`, parents));
  }
  return `[${parts.join(',')}]`;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function writeString(value: string, path: string): string {
  if (LONE_SURROGATE.test(value)) throw refuse(path, 'the string holds a lone UTF-16 surrogate');
  // JSON.stringify escapes exactly what JCS escapes: ", \, control characters (\b \f \n \r \t, others as \u00XX).
  return JSON.stringify(value);
}

function refuse(path: string, why: string): TypeError {
  return new TypeError(`no canonical JSON form at ${path}: ${why}`);
}
