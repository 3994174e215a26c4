import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ReleasableModel, ServingModel } from '../../agent/inference/serving-model.js';
import type { Classification } from '../../agent/pipeline/image-pipeline.js';

/** A stand-in model whose inference finishes when the test says so. */
function model(name: string, label: string) {
  const pending: Array<() => void> = [];
  let released = false;
  const m: ReleasableModel & { finishAll(): void; readonly released: boolean; readonly waiting: number } = {
    name,
    version: '1.0.0',
    classify: () => new Promise<Classification>((resolve) => pending.push(() => resolve({ label, score: 0.9, topK: [{ label, score: 0.9 }] }))),
    release: async () => {
      released = true;
    },
    finishAll: () => pending.splice(0).forEach((f) => f()),
    get released() {
      return released;
    },
    get waiting() {
      return pending.length;
    },
  };
  return m;
}

test('a swap takes effect between inferences: the running one finishes on the old model', async () => {
  const v1 = model('defect', 'v1');
  const v2 = model('defect', 'v2');
  const serving = new ServingModel(v1);
  const inFlight = serving.classify(Buffer.alloc(1));
  const previous = serving.swap(v2);
  assert.equal(previous, v1);
  const next = serving.classify(Buffer.alloc(1));
  v1.finishAll();
  v2.finishAll();
  assert.equal((await inFlight).label, 'v1');
  assert.equal((await next).label, 'v2');
  assert.equal(v1.released, false, 'the replaced model is handed back, not released behind the caller');
});

test('the shadow candidate sees the same inputs, one at a time, off the critical path', async () => {
  const serving0 = model('defect', 'ok');
  const candidate = model('defect', 'ok');
  const serving = new ServingModel(serving0);
  const seen: Array<[string, string]> = [];
  serving.startShadow(candidate, { observe: (s, c) => seen.push([s.label, c instanceof Error ? 'error' : c.label]) });
  const a = serving.classify(Buffer.alloc(1));
  serving0.finishAll();
  await a;
  const b = serving.classify(Buffer.alloc(1));
  serving0.finishAll();
  await b; // the serving answer does not wait for the busy candidate
  assert.equal(candidate.waiting, 1, 'only one candidate inference at a time');
  assert.equal(serving.shadowSkipped, 1);
  candidate.finishAll();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [['ok', 'ok']]);
  serving.endShadow();
  const c = serving.classify(Buffer.alloc(1));
  serving0.finishAll();
  await c;
  assert.equal(candidate.waiting, 0, 'no shadow work after endShadow');
});
