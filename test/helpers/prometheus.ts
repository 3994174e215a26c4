import assert from 'node:assert/strict';

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: string;
  help: string;
  samples: ParsedSample[];
}

/**
 * A strict reader of the text exposition format, written from the spec rather than from
 * the writer: every sample must belong to the family whose HELP and TYPE came before it.
 */
export function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  let current: { name: string; family: Family } | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help) {
      assert.ok(!families.has(help[1]!), `family ${help[1]} appears once`);
      current = { name: help[1]!, family: { type: '', help: help[2]!, samples: [] } };
      families.set(current.name, current.family);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      assert.equal(type[1], current?.name, `TYPE follows HELP of the same family: ${line}`);
      current!.family.type = type[2]!;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    const [, name, rawLabels, rawValue] = sample;
    assert.ok(current, `sample before any family: ${line}`);
    const suffixes = current.family.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
    assert.ok(suffixes.some((s) => name === current!.name + s), `${name} belongs to ${current.name}`);
    const labels: Record<string, string> = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
    let consumed = 0;
    for (const m of (rawLabels ?? '').matchAll(labelRe)) {
      labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      consumed += m[0].length;
    }
    assert.equal(consumed, (rawLabels ?? '').length, `labels parse completely: ${rawLabels}`);
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    assert.ok(rawValue === 'NaN' || !Number.isNaN(value), `numeric value: ${rawValue}`);
    current.family.samples.push({ name: name!, labels, value });
  }
  return families;
}
