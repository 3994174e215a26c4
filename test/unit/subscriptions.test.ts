import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '../../agent/sync/subscriptions.js';

test('MQTT topic filters match as the broker does', () => {
  const cases: Array<[string, string, boolean]> = [
    ['edge/v1/desired/device/gw1', 'edge/v1/desired/device/gw1', true],
    ['edge/v1/desired/+/gw1', 'edge/v1/desired/site/gw1', true],
    ['edge/v1/desired/+/gw1', 'edge/v1/desired/site/gw2', false],
    ['edge/v1/models/#', 'edge/v1/models/defect/1.0.0/manifest', true],
    ['edge/v1/models/#', 'edge/v1/models', true],
    ['edge/v1/+', 'edge/v1/a/b', false],
    ['edge/v1/a/b', 'edge/v1/a', false],
  ];
  for (const [filter, topic, expected] of cases) assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic}`);
});
