import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Classifier, isProbabilityDistribution, softmax, topIndices } from '../../agent/inference/classifier.js';
import { AgentError } from '../../agent/errors.js';
import { parseLabels } from '../../agent/inference/labels.js';

const labels = ['ok', 'scratch', 'dent', 'missing screw'];
const close = (a: number, b: number, what = '') => assert.ok(Math.abs(a - b) < 1e-6, `${what} ${a} != ${b}`);

function expSoftmax(xs: number[]): number[] {
  const e = xs.map((x) => Math.exp(x));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test('auto: logits get softmax, probabilities are left alone', () => {
  const c = new Classifier({ softmax: 'auto', topK: 2 }, labels);
  const logits = [1.5, -0.3, 3.2, 0.1];
  const r = c.decode(Float32Array.from(logits));
  assert.equal(r.softmaxApplied, true);
  assert.equal(r.label, 'dent');
  const p = expSoftmax(logits);
  close(r.score, p[2]!);
  assert.deepEqual(r.topK.map((s) => s.label), ['dent', 'ok']);
  close(r.topK[1]!.score, p[0]!);

  const probs = [0.1, 0.7, 0.15, 0.05];
  const q = c.decode(Float32Array.from(probs));
  assert.equal(q.softmaxApplied, false);
  assert.equal(q.label, 'scratch');
  assert.equal(q.score, Math.fround(0.7));
  // In [0,1] but not summing to 1: not probabilities.
  assert.equal(c.decode([0.2, 0.3, 0.1, 0.1]).softmaxApplied, true);
  // Negative values: not probabilities even if they sum to 1.
  assert.equal(c.decode([1.5, -0.5, 0, 0]).softmaxApplied, true);
});

test('always and never', () => {
  const probs = [0.1, 0.7, 0.15, 0.05];
  const always = new Classifier({ softmax: 'always', topK: 1 }, labels).decode(probs);
  assert.equal(always.softmaxApplied, true);
  close(always.score, expSoftmax(probs)[1]!);
  const never = new Classifier({ softmax: 'never', topK: 4 }, labels).decode([2, -1, 7, 3]);
  assert.equal(never.softmaxApplied, false);
  assert.deepEqual(never.topK, [
    { label: 'dent', score: 7 },
    { label: 'missing screw', score: 3 },
    { label: 'ok', score: 2 },
    { label: 'scratch', score: -1 },
  ]);
});

test('softmax is stable for large logits', () => {
  const r = new Classifier({ softmax: 'always', topK: 2 }, labels).decode([1000, 999, -1000, 0]);
  const e = Math.exp(-1);
  close(r.score, 1 / (1 + e));
  close(r.topK[1]!.score, e / (1 + e));
  const all = softmax([1000, 1000]);
  assert.deepEqual([...all], [0.5, 0.5]);
  assert.equal(softmax([-Infinity, 0])[0], 0);
  close([...softmax([3, 1, 0.2, -4])].reduce((a, b) => a + b, 0), 1);
});

test('top-k: order, ties by lower index, k beyond the class count, k from config by default', () => {
  assert.deepEqual(topIndices([0.1, 0.4, 0.4, 0.05, 0.05], 3), [1, 2, 0]);
  assert.deepEqual(topIndices([5, 4, 3, 2, 1], 2), [0, 1]);
  assert.deepEqual(topIndices([1, 2, 3, 4, 5], 2), [4, 3]);
  assert.deepEqual(topIndices([3, 1, 2], 10), [0, 2, 1]);
  assert.deepEqual(topIndices([-Infinity, -Infinity, -5], 2), [2, 0]);
  assert.deepEqual(topIndices([1, 2], 0), []);
  // Matches a full sort on a 1000-class vector.
  let seed = 42;
  const scores = Float32Array.from({ length: 1000 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) % 100000) / 1000);
  const sorted = [...scores.keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  assert.deepEqual(topIndices(scores, 5), sorted.slice(0, 5));
  assert.deepEqual(topIndices(scores, 100), sorted.slice(0, 100));
  const c = new Classifier({ softmax: 'never', topK: 3 }, labels);
  assert.equal(c.decode([1, 2, 3, 4]).topK.length, 3);
  assert.equal(c.decode([1, 2, 3, 4], 1).topK.length, 1);
});

test('labels: index as the label when missing, short or blank', () => {
  const none = new Classifier({ softmax: 'never', topK: 2 }).decode([0.2, 0.9]);
  assert.deepEqual(none.topK.map((s) => s.label), ['1', '0']);
  const short = new Classifier({ softmax: 'never', topK: 3 }, ['ok', '']).decode([0.5, 0.3, 0.9]);
  assert.deepEqual(short.topK.map((s) => s.label), ['2', 'ok', '1']);
});

test('empty or NaN scores are refused with E_MODEL_OUTPUT', () => {
  const c = new Classifier({ softmax: 'auto', topK: 3 }, labels);
  const isOutputError = (e: unknown) => e instanceof AgentError && e.code === 'E_MODEL_OUTPUT';
  assert.throws(() => c.decode(new Float32Array(0)), isOutputError);
  assert.throws(() => c.decode([0.1, NaN, 0.2]), isOutputError);
  assert.throws(() => new Classifier({ softmax: 'always', topK: 1 }).decode([Infinity, 1]), isOutputError);
});

test('isProbabilityDistribution', () => {
  assert.equal(isProbabilityDistribution([0.25, 0.25, 0.5]), true);
  assert.equal(isProbabilityDistribution([0.25, 0.25, 0.495]), true); // float16 rounding
  assert.equal(isProbabilityDistribution([0.25, 0.25, 0.4]), false);
  assert.equal(isProbabilityDistribution([1.2, -0.2]), false);
  assert.equal(isProbabilityDistribution([]), false);
});

test('labels file text: one per line, trimmed, trailing blanks dropped, inner blanks kept', () => {
  assert.deepEqual(parseLabels('\uFEFFok\r\n  scratch \r\n\r\ndent\n\n \n'), ['ok', 'scratch', '', 'dent']);
  assert.deepEqual(parseLabels(''), []);
  assert.deepEqual(parseLabels('\n\n'), []);
  assert.deepEqual(parseLabels('0,tench, Tinca tinca\n1,goldfish, Carassius auratus\n'), ['tench, Tinca tinca', 'goldfish, Carassius auratus']);
  assert.deepEqual(parseLabels('0,a\n2,b\n'), ['0,a', '2,b']);
});
