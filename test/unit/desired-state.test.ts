import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DesiredState, resolveDesired, type DevicePlacement } from '../../protocol/desired-state.js';
import { formatIssues } from '../../protocol/parse.js';
import { checkDesiredCounter, checkManifestCounter } from '../../protocol/replay.js';
import { RolloutReport } from '../../protocol/rollout-state.js';
import {
  artifactChunkCount,
  artifactChunkTopic,
  ARTIFACT_CHUNK_BYTES,
  desiredStateTopic,
  desiredStateTopicsOf,
  deviceTopics,
  manifestTopic,
  rolloutControllerTopic,
} from '../../protocol/topics.js';

function desired(kind: 'device' | 'group' | 'site', id: string, counter: number, extra: Record<string, unknown> = {}): DesiredState {
  return DesiredState.parse({ v: 1, target: { kind, id }, counter, issuedAt: '2025-03-01T08:00:00Z', models: [{ name: 'defect', version: `1.${counter}.0`, counter }], ...extra });
}

const gw: DevicePlacement = { id: 'line3-gw01', group: 'line3', site: 'plant-north' };

test('resolveDesired: the device beats its group, the group beats the site, whatever the counters', () => {
  const site = desired('site', 'plant-north', 90);
  const group = desired('group', 'line3', 50);
  const device = desired('device', 'line3-gw01', 2);
  assert.equal(resolveDesired([site, group, device], gw), device);
  assert.equal(resolveDesired([device, group, site], gw), device, 'order does not matter');
  assert.equal(resolveDesired([site, group], gw), group);
  assert.equal(resolveDesired([site], gw), site);
  assert.equal(resolveDesired([], gw), undefined);
});

test('resolveDesired ignores states for other devices, groups and sites', () => {
  const others = [desired('device', 'line3-gw02', 9), desired('group', 'line4', 9), desired('site', 'plant-south', 9)];
  assert.equal(resolveDesired(others, gw), undefined);
  const site = desired('site', 'plant-north', 1);
  assert.equal(resolveDesired([...others, site], gw), site);
  // A device without a group is never matched by a group state, even one with its site's name.
  const { group: _none, ...ungrouped } = gw;
  assert.equal(resolveDesired([desired('group', 'plant-north', 5), site], ungrouped), site);
});

test('resolveDesired: for the same target the highest counter wins; expired states give way when a time is given', () => {
  const older = desired('device', 'line3-gw01', 3);
  const newer = desired('device', 'line3-gw01', 4);
  assert.equal(resolveDesired([newer, older], gw), newer);
  assert.equal(resolveDesired([older, newer], gw), newer);
  const pin = desired('device', 'line3-gw01', 5, { expiresAt: '2025-03-02T08:00:00Z' });
  const group = desired('group', 'line3', 1);
  assert.equal(resolveDesired([pin, group], gw), pin, 'without a time, expiry is not looked at');
  assert.equal(resolveDesired([pin, group], gw, Date.parse('2025-03-01T12:00:00Z')), pin);
  assert.equal(resolveDesired([pin, group], gw, Date.parse('2025-03-03T08:00:00Z')), group);
});

test('desired state schema: rollbacks must name a listed version, model names are unique', () => {
  const ok = DesiredState.safeParse({
    v: 1,
    target: { kind: 'group', id: 'line3' },
    counter: 12,
    issuedAt: '2025-03-01T08:00:00Z',
    models: [{ name: 'defect', version: '1.3.0', counter: 6 }],
    rollback: { name: 'defect', to: '1.3.0', reason: '1.4.0 collapses confidence on line 3' },
    rollout: { id: 'r-2025-03-01', wave: 2 },
  });
  assert.ok(ok.success, ok.success ? '' : formatIssues(ok.error.issues));
  const lines = (v: unknown) => {
    const r = DesiredState.safeParse(v);
    return r.success ? '' : formatIssues(r.error.issues);
  };
  const base = { v: 1, target: { kind: 'device', id: 'gw1' }, counter: 1, issuedAt: '2025-03-01T08:00:00Z', models: [] };
  assert.equal(lines(base), '', 'no models: keep what you run');
  assert.match(lines({ ...base, rollback: { name: 'defect', to: '1.3.0', reason: 'x' } }), /^rollback\.to: models must list defect 1\.3\.0/);
  assert.match(lines({ ...base, models: [{ name: 'a', version: '1.0.0', counter: 1 }, { name: 'a', version: '1.1.0', counter: 2 }] }), /^models\.1\.name: model "a" is listed twice/);
  assert.match(lines({ ...base, target: { kind: 'line', id: 'x' } }), /^target\.kind/);
  assert.match(lines({ ...base, target: { kind: 'site', id: 'plant north/2' } }), /^target\.id/);
  assert.match(lines({ ...base, expiresAt: '2025-02-01T08:00:00Z' }), /^expiresAt: expiresAt must be after issuedAt/);
  assert.match(lines({ ...base, counter: 0 }), /^counter/);
});

test('manifest counters only go up, unless a signed rollback names the older manifest', () => {
  const code = (r: ReturnType<typeof checkManifestCounter>) => (r.ok ? 'ok' : r.code);
  const seen = { counter: 7, version: '1.4.0' };
  assert.equal(code(checkManifestCounter({ name: 'defect', version: '1.5.0', counter: 8 }, seen)), 'ok');
  assert.equal(code(checkManifestCounter({ name: 'defect', version: '1.0.0', counter: 1 }, undefined)), 'ok');
  assert.equal(code(checkManifestCounter({ name: 'defect', version: '1.4.0', counter: 7 }, seen)), 'ok', 'the same retained manifest again');
  assert.equal(code(checkManifestCounter({ name: 'defect', version: '1.4.1', counter: 7 }, seen)), 'E_MANIFEST_REPLAY', 'a counter reused for another version');
  const old = { name: 'defect', version: '1.3.0', counter: 6 };
  assert.equal(code(checkManifestCounter(old, seen)), 'E_MANIFEST_REPLAY');
  const rollback = desired('device', 'gw1', 20, { models: [{ name: 'defect', version: '1.3.0', counter: 6 }], rollback: { name: 'defect', to: '1.3.0', reason: 'NaN outputs' } });
  assert.equal(code(checkManifestCounter(old, seen, rollback)), 'ok');
  assert.equal(code(checkManifestCounter({ ...old, counter: 5 }, seen, rollback)), 'E_MANIFEST_REPLAY', 'the rollback names one exact manifest counter');
  assert.equal(code(checkManifestCounter({ name: 'defect', version: '1.2.0', counter: 4 }, seen, rollback)), 'E_MANIFEST_REPLAY');
  const noRollback = desired('device', 'gw1', 20, { models: [{ name: 'defect', version: '1.3.0', counter: 6 }] });
  assert.equal(code(checkManifestCounter(old, seen, noRollback)), 'E_MANIFEST_REPLAY', 'listing an older version is not a rollback');
});

test('desired-state counters never go down; the same one again is fine', () => {
  const d = desired('group', 'line3', 5);
  assert.ok(checkDesiredCounter(d, undefined).ok);
  assert.ok(checkDesiredCounter(d, 4).ok);
  assert.ok(checkDesiredCounter(d, 5).ok);
  const r = checkDesiredCounter(d, 6);
  assert.equal(r.ok ? 'ok' : r.code, 'E_DESIRED_REPLAY');
});

test('rollout report schema', () => {
  const report = {
    v: 1,
    device: 'line3-gw01',
    ts: 1_740_816_000_000,
    serving: [{ name: 'defect', version: '1.3.0', counter: 6 }],
    state: 'downloading',
    candidate: { name: 'defect', version: '1.4.0', counter: 7 },
    lastTransition: { from: 'idle', to: 'downloading', at: 1_740_815_999_000 },
    desiredCounter: 12,
    rolloutId: 'r-2025-03-01',
    progress: { bytes: 1024, total: 13122 },
  };
  assert.ok(RolloutReport.safeParse(report).success);
  const why = (v: unknown) => {
    const r = RolloutReport.safeParse(v);
    return r.success ? '' : formatIssues(r.error.issues);
  };
  assert.match(why({ ...report, state: 'committed' }), /^lastTransition\.to: /);
  assert.match(why({ ...report, state: 'exploded', lastTransition: { ...report.lastTransition, to: 'exploded' } }), /state/);
  assert.match(why({ ...report, progress: { bytes: 20_000, total: 13122 } }), /^progress\.bytes: bytes exceeds total/);
  assert.match(why({ ...report, secret: 1 }), /unknown key "secret"/);
});

test('rollout topics', () => {
  assert.equal(deviceTopics('edge/v1', 'gw1').rollout, 'edge/v1/gw1/rollout');
  assert.equal(manifestTopic('edge/v1', 'defect', '1.4.0'), 'edge/v1/models/defect/1.4.0/manifest');
  assert.equal(artifactChunkTopic('edge/v1', 'ab'.repeat(32), 3), `edge/v1/artifacts/${'ab'.repeat(32)}/3`);
  assert.equal(desiredStateTopic('edge/v1', 'site', 'plant-north'), 'edge/v1/desired/site/plant-north');
  assert.equal(rolloutControllerTopic('edge/v1', 'r-1'), 'edge/v1/rollouts/r-1');
  assert.deepEqual(desiredStateTopicsOf('edge/v1', gw), ['edge/v1/desired/device/line3-gw01', 'edge/v1/desired/group/line3', 'edge/v1/desired/site/plant-north']);
  assert.equal(artifactChunkCount(1), 1);
  assert.equal(artifactChunkCount(ARTIFACT_CHUNK_BYTES), 1);
  assert.equal(artifactChunkCount(ARTIFACT_CHUNK_BYTES + 1), 2);
});
