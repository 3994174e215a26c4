import assert from 'node:assert/strict';
import test from 'node:test';
import { PLANT_SIGNALS, PlantSignals } from '../../agent/demo/plant-signals.js';

const T0 = 1_767_254_400_000;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('healthy signals sit around their typical values, with noise', () => {
  const p = new PlantSignals(7);
  const typical = { Vibration: 2, Temperature: 45, Pressure: 6, MotorCurrent: 12 };
  for (const s of PLANT_SIGNALS) {
    const xs = Array.from({ length: 600 }, (_, i) => p.read(s, T0 + i * 100).value);
    assert.ok(Math.abs(mean(xs) - typical[s]) < typical[s] * 0.1, `${s} mean ${mean(xs)}`);
    assert.ok(new Set(xs).size > 100, `${s} varies`);
  }
});

test('drift wears the bearing: vibration, temperature and current rise over time', () => {
  const p = new PlantSignals(3);
  const before = mean(Array.from({ length: 100 }, (_, i) => p.read('Vibration', T0 + i * 100).value));
  p.driftPerS = 0.01;
  for (let i = 0; i < 600; i++) p.step(0.1);
  assert.ok(Math.abs(p.wear - 0.6) < 1e-9);
  const after = mean(Array.from({ length: 100 }, (_, i) => p.read('Vibration', T0 + i * 100).value));
  assert.ok(after - before > 2.5, `vibration ${before} → ${after}`);
  assert.ok(p.read('Temperature', T0).value > 52);
});

test('injected faults: Bad status, a stuck value, a spike, an outage; clear ends them', () => {
  const p = new PlantSignals(1);
  p.inject('Temperature', 'bad');
  assert.equal(p.read('Temperature', T0).status, 'BadSensorFailure');
  p.inject('Pressure', 'stuck');
  const stuck = new Set(Array.from({ length: 20 }, (_, i) => p.read('Pressure', T0 + i * 100).value));
  assert.equal(stuck.size, 1);
  p.inject('Vibration', 'spike');
  assert.ok(p.read('Vibration', T0).value > 8);
  p.inject('MotorCurrent', 'outage');
  assert.equal(p.read('MotorCurrent', T0).publish, false);
  for (const s of PLANT_SIGNALS) p.inject(s, 'clear');
  assert.equal(p.read('Temperature', T0).status, 'Good');
  assert.equal(p.read('MotorCurrent', T0).publish, true);
  assert.ok(new Set(Array.from({ length: 20 }, (_, i) => p.read('Pressure', T0 + i * 100).value)).size > 1);
});
