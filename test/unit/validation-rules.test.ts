import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import type { AgentEvent } from '../../agent/events.js';
import type { TagSample } from '../../agent/features/tag-sample.js';
import { ModelValidator } from '../../agent/validation/model-validator.js';
import { readRulesFile } from '../../agent/validation/rules-file.js';
import { TagValidator } from '../../agent/validation/tag-validator.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_767_254_400_000;
const s = (value: TagSample['value'], at: number, tag = 'p'): TagSample => ({ tag, value, quality: 'good', status: 'Good', sourceTs: T0 + at, receivedAt: at });

test('physical range, rate of change, stuck sensor, allowed values, timestamps going backwards', () => {
  const v = new TagValidator({ tag: 'p', min: 0, max: 10, maxRatePerS: 5, stuckSamples: 3 });
  assert.deepEqual(v.check(s(5, 0)), []);
  assert.deepEqual(v.check(s(11, 1000)).map((x) => x.rule), ['range', 'rate']);
  assert.deepEqual(v.check(s(-1, 5000)).map((x) => x.rule), ['range']);
  assert.deepEqual(v.check(s(-1, 6000)).map((x) => x.rule), ['range']);
  assert.deepEqual(v.check(s(-1, 7000)).map((x) => x.rule), ['range', 'stuck']);
  const back = v.check(s(2, 500));
  assert.deepEqual(back.map((x) => x.rule), ['timestamp_backwards']);
  assert.match(back[0]!.message, /^p: source timestamp .* is before the previous/);
  const modes = new TagValidator({ tag: 'mode', allowed: ['auto', 'manual'] });
  assert.deepEqual(modes.check(s('auto', 0, 'mode')), []);
  assert.match(modes.check(s('service', 100, 'mode'))[0]!.message, /^mode: "service" is not one of \["auto","manual"\]$/);
  assert.deepEqual(new TagValidator({ tag: 'p', max: 1 }).check({ ...s(99, 0), quality: 'bad', status: 'BadSensorFailure' }), [], 'a Bad reading is marked by its status, not judged');
});

test('a model validator writes one event when a rule starts failing and one when it clears', () => {
  const events: AgentEvent[] = [];
  const mv = new ModelValidator('m', ['p'], [{ tag: 'p', max: 10 }], { record: (e) => events.push(e) });
  for (let i = 0; i < 5; i++) mv.observe(s(20 + i, i * 100));
  mv.observe(s(5, 600));
  assert.deepEqual(events.map((e) => e.kind), ['sensor_validation', 'sensor_validation_cleared']);
  assert.deepEqual(events[0]!.detail, { model: 'm', tag: 'p', rule: 'range', value: 20, ts: T0 });
  assert.equal(mv.take(T0 + 250, T0 + 1000).length, 2, 'violations at 300 and 400 ms fall in the window');
  assert.equal(mv.take(T0 + 250, T0 + 1000).length, 2, 'and stay until older than the window start');
});

test('a rules file beside the model is validated and every problem named with its path', async (t) => {
  const dir = await tempDir(t);
  writeFileSync(join(dir, 'ok.yaml'), 'rules:\n  - { tag: vib, min: 0, max: 50, stuckSamples: 20 }\n');
  assert.deepEqual(readRulesFile('ok.yaml', dir, 'm'), [{ tag: 'vib', min: 0, max: 50, stuckSamples: 20 }]);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ rules: [{ tag: 'vib', max: 'high' }, { tag: 'x', stuckSamples: 1, extra: true }] }));
  assert.throws(() => readRulesFile('bad.json', dir, 'm'), (err: Error) => {
    assert.match(err.message, /validation file of model "m" \(.*bad\.json\) is not valid: /);
    assert.match(err.message, /rules\.0\.max: /);
    assert.match(err.message, /rules\.1\.stuckSamples: /);
    assert.match(err.message, /rules\.1: Unrecognized key: "extra"/);
    return true;
  });
});
