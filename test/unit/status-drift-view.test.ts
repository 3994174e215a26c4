import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DriftState } from '../../agent/drift/monitor.js';
import { driftAlarms, driftView } from '../../agent/status/drift-view.js';

const limits = () => ({ psi: { warn: 0.1, alarm: 0.25 } }) as never;

function state(model: string, level: DriftState['level'], alarms: DriftState['alarms']): DriftState {
  return { model, level, alarms, windows: 4, samplesInWindow: 3, captured: 0, lastWindow: { endedAt: 1000, samples: 20, stats: alarms.map((a) => ({ ...a, level: 'alarm' as const })) } };
}

test('an alarm names its PSI statistics first and counts the rest, so the line stays short', () => {
  const many = [
    { subject: 'image.brightness', statistic: 'ks', value: 0.9 },
    { subject: 'image.contrast', statistic: 'js', value: 0.5 },
    { subject: 'image.brightness', statistic: 'psi', value: 8.28941 },
    { subject: 'confidence.top1', statistic: 'cusum', value: 3.5 },
    { subject: 'image.sharpness', statistic: 'psi', value: 2.5 },
  ];
  const d = { states: [state('cam', 'alarm', many), state('pump', 'ok', [])], unwatched: [], limits, acknowledged: (m: string) => m === 'nobody' };
  const [alarm, ...rest] = driftAlarms(d);
  assert.equal(rest.length, 0, 'only models in alarm');
  assert.deepEqual(alarm, {
    id: 'drift:cam',
    severity: 'critical',
    message: 'drift on cam: image.brightness psi 8.2894, image.sharpness psi 2.5, image.brightness ks 0.9 and 2 more',
    since: 1000,
    acknowledged: false,
  });
  const two = driftAlarms({ ...d, states: [state('cam', 'alarm', many.slice(0, 2))] });
  assert.equal(two[0]?.message, 'drift on cam: image.brightness ks 0.9, image.contrast js 0.5');
});

test('acknowledged alarms stay listed, marked, but leave the unacknowledged list that drives the LED', () => {
  const d = { states: [state('cam', 'alarm', [{ subject: 'image.brightness', statistic: 'psi', value: 1 }])], unwatched: ['other'], limits, acknowledged: () => true };
  assert.equal(driftAlarms(d)[0]?.acknowledged, true);
  assert.deepEqual(driftAlarms(d, { unacknowledged: true }), []);
  const view = driftView(d);
  assert.deepEqual(view.gauges, [{ model: 'cam', name: 'image.brightness', value: 1, threshold: 0.25 }]);
  assert.deepEqual(view.unwatched, ['other']);
});
