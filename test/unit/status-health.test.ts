import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeHealth, type HealthInputs } from '../../agent/status/health.js';
import { judgeReadiness } from '../../agent/status/readiness.js';
import { sourceState } from '../../agent/status/source-state.js';

/** A healthy running agent; each test changes one thing. */
function inputs(change: Partial<HealthInputs> = {}): HealthInputs {
  return {
    phase: 'running',
    models: [{ name: 'defect', loaded: true }],
    sources: [{ id: 'cam1', state: 'live', lastFrameAgeS: 0.1 }],
    broker: { connected: true, changedAgoS: 300 },
    outbox: { oldestPendingAgeS: null },
    errorsLastMinute: 0,
    lastError: undefined,
    storeFailure: undefined,
    disk: { freeBytes: 50e9, totalBytes: 100e9, path: '/var/lib/edge-agent' },
    alarms: [],
    policy: { backlogDegradedS: 120, diskFreeDegradedPct: 10, diskFreeFaultPct: 2 },
    ...change,
  };
}

test('a running agent with everything in order is healthy and says why', () => {
  const v = judgeHealth(inputs());
  assert.equal(v.state, 'healthy');
  assert.match(v.reason, /serving 1 model; sources 1 live; broker connected; outbox empty/);
});

test('while starting the verdict is "starting", whatever else is seen', () => {
  const v = judgeHealth(inputs({ phase: 'starting', broker: { connected: false, changedAgoS: null } }));
  assert.equal(v.state, 'starting');
  assert.match(v.reason, /starting/);
});

test('a broker outage degrades and tells how long and what is buffered', () => {
  const v = judgeHealth(inputs({ broker: { connected: false, changedAgoS: 200 }, outbox: { oldestPendingAgeS: 190 } }));
  assert.equal(v.state, 'degraded');
  assert.equal(v.reason, 'broker disconnected for 3 min; predictions are buffered, oldest unsent 3 min old');
  const empty = judgeHealth(inputs({ broker: { connected: false, changedAgoS: 5 } }));
  assert.equal(empty.reason, 'broker disconnected for 5 s; nothing is waiting');
});

test('a connected broker with an old backlog degrades only past the threshold', () => {
  assert.equal(judgeHealth(inputs({ outbox: { oldestPendingAgeS: 100 } })).state, 'healthy');
  const v = judgeHealth(inputs({ outbox: { oldestPendingAgeS: 600 } }));
  assert.equal(v.state, 'degraded');
  assert.match(v.reason, /sync is behind: the oldest unsent prediction is 10 min old/);
});

test('a stalled camera and recent errors degrade', () => {
  const stalled = judgeHealth(inputs({ sources: [{ id: 'cam1', state: 'stalled', lastFrameAgeS: 42 }] }));
  assert.equal(stalled.state, 'degraded');
  assert.equal(stalled.reason, 'source cam1 stalled: no frame for 42 s');
  const idle = judgeHealth(inputs({ sources: [{ id: 'inbox', state: 'idle', lastFrameAgeS: 4000 }] }));
  assert.equal(idle.state, 'healthy', 'a quiet hot folder is not a problem');
  const errors = judgeHealth(inputs({ errorsLastMinute: 3, lastError: 'pipeline_error: part-7: boom' }));
  assert.equal(errors.state, 'degraded');
  assert.equal(errors.reason, '3 errors in the last minute (latest: pipeline_error: part-7: boom)');
});

test('a missing model, a failing store, a full disk or no running source is a fault', () => {
  assert.equal(judgeHealth(inputs({ models: [{ name: 'defect', loaded: false }] })).reason, 'model defect is not loaded');
  assert.equal(judgeHealth(inputs({ models: [] })).reason, 'no model is loaded');
  assert.equal(judgeHealth(inputs({ storeFailure: 'SQLITE_FULL' })).reason, 'store writes are failing: SQLITE_FULL');
  const full = judgeHealth(inputs({ disk: { freeBytes: 1e9, totalBytes: 100e9, path: '/data' } }));
  assert.equal(full.state, 'fault');
  assert.equal(full.reason, 'disk almost full: 1.0 % free (1.0 GB) on /data');
  const filling = judgeHealth(inputs({ disk: { freeBytes: 5e9, totalBytes: 100e9, path: '/data' } }));
  assert.equal(filling.state, 'degraded');
  assert.match(filling.reason, /disk filling up: 5.0 % free/);
  assert.equal(judgeHealth(inputs({ sources: [{ id: 'cam1', state: 'stopped', lastFrameAgeS: 1 }] })).reason, 'no source is running');
  assert.equal(judgeHealth(inputs({ phase: 'stopping' })).state, 'fault');
});

test('an active alarm outranks degradations but not a fault, and every finding is listed worst first', () => {
  const alarms = [{ id: 'drift-defect', message: 'defect rate 14 % (usual 3 %)' }];
  const v = judgeHealth(inputs({ alarms, broker: { connected: false, changedAgoS: 60 } }));
  assert.equal(v.state, 'alarm');
  assert.equal(v.reason, '1 active alarm: defect rate 14 % (usual 3 %)');
  assert.equal(v.reasons.length, 2);
  assert.match(v.reasons[1] ?? '', /broker disconnected/);
  const worse = judgeHealth(inputs({ alarms, storeFailure: 'disk I/O error' }));
  assert.equal(worse.state, 'fault');
  assert.deepEqual(worse.reasons, ['store writes are failing: disk I/O error', '1 active alarm: defect rate 14 % (usual 3 %)']);
});

test('readiness needs running sources, loaded models and a writable store; a missing broker does not matter', () => {
  const ok = { phase: 'running' as const, models: [{ name: 'defect', loaded: true }], storeProblem: undefined };
  assert.deepEqual(judgeReadiness(ok), { ready: true, reasons: [] });
  assert.deepEqual(judgeReadiness({ ...ok, phase: 'starting' }).reasons, ['sources not started yet: the agent is starting']);
  const bad = judgeReadiness({ phase: 'stopping', models: [{ name: 'defect', loaded: false }], storeProblem: 'the store is closed' });
  assert.equal(bad.ready, false);
  assert.deepEqual(bad.reasons, ['sources stopped: the agent is stopping', 'model defect is not loaded', 'store not writable: the store is closed']);
});

test('a silent free-running camera is stalled, a silent hot folder is idle', () => {
  const base = { phase: 'running' as const, runningSince: 0, staleS: 10 };
  assert.equal(sourceState({ ...base, type: 'synthetic', lastFrameAt: 95_000, now: 100_000 }), 'live');
  assert.equal(sourceState({ ...base, type: 'synthetic', lastFrameAt: 80_000, now: 100_000 }), 'stalled');
  assert.equal(sourceState({ ...base, type: 'synthetic', lastFrameAt: undefined, now: 5_000 }), 'starting');
  assert.equal(sourceState({ ...base, type: 'synthetic', lastFrameAt: undefined, now: 50_000 }), 'stalled');
  assert.equal(sourceState({ ...base, type: 'folder', lastFrameAt: 80_000, now: 100_000 }), 'idle');
  assert.equal(sourceState({ ...base, type: 'folder', lastFrameAt: 99_000, now: 100_000 }), 'live');
  assert.equal(sourceState({ ...base, type: 'folder', lastFrameAt: undefined, now: 100_000 }), 'idle');
  assert.equal(sourceState({ ...base, phase: 'starting', type: 'folder', lastFrameAt: undefined, now: 1 }), 'starting');
  assert.equal(sourceState({ ...base, phase: 'stopped', type: 'synthetic', lastFrameAt: 99_000, now: 100_000 }), 'stopped');
});
