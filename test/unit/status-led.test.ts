import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import type { Timers } from '../../agent/status/led/blinker.js';
import type { LedDriver } from '../../agent/status/led/driver.js';
import { GpioLed } from '../../agent/status/led/gpio.js';
import { createStatusLed, StatusLed } from '../../agent/status/led/led.js';
import { LED_PATTERNS, ledStateOf, type LedInputs, type LedPattern, type LedState } from '../../agent/status/led/patterns.js';
import { SysfsLed } from '../../agent/status/led/sysfs.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/tmp.js';

/** Timers that only move when the test says so. */
class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Runs every timer due up to `to`, in time order. */
  advanceTo(to: number): void {
    for (;;) {
      const next = [...this.pending].sort(([, a], [, b]) => a.at - b.at)[0];
      if (!next || next[1].at > to) break;
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = to;
  }
}

/** A warning-capturing logger: the drivers must say once when the LED cannot be driven. */
function capturingLog(): { log: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

async function fakeLed(t: { after(fn: () => unknown): unknown }, triggers = '[none] timer heartbeat'): Promise<{ root: string; file: (name: string) => string }> {
  const root = await tempDir(t, 'leds-');
  mkdirSync(join(root, 'status'));
  for (const [name, value] of Object.entries({ brightness: '0', max_brightness: '255', trigger: triggers, delay_on: '', delay_off: '' })) {
    writeFileSync(join(root, 'status', name), value);
  }
  return { root, file: (name) => readFileSync(join(root, 'status', name), 'utf8') };
}

/** The LED's brightness at each of `times` (ms) while `pattern` plays. */
function levelsAt(driver: SysfsLed, timers: FakeTimers, file: (n: string) => string, pattern: LedPattern, times: number[]): string[] {
  const start = timers.now;
  driver.show(pattern);
  return times.map((at) => {
    timers.advanceTo(start + at);
    return file('brightness');
  });
}

test('the LED state follows the verdict, worst first', () => {
  const base: LedInputs = { health: 'healthy', brokerConnected: true, updating: false, stopping: false };
  const cases: Array<[Partial<LedInputs>, LedState]> = [
    [{}, 'healthy'],
    [{ health: 'degraded' }, 'degraded'],
    [{ health: 'degraded', brokerConnected: false }, 'offline'],
    [{ brokerConnected: false }, 'offline'],
    [{ updating: true, brokerConnected: false }, 'updating'],
    [{ health: 'starting' }, 'updating'],
    [{ health: 'alarm', updating: true, brokerConnected: false }, 'alarm'],
    [{ health: 'fault', updating: true }, 'fault'],
    [{ health: 'fault', stopping: true }, 'updating'],
  ];
  for (const [change, expected] of cases) assert.equal(ledStateOf({ ...base, ...change }), expected, JSON.stringify(change));
});

test('sysfs: blink patterns the kernel can draw go to its trigger files', async (t) => {
  const { root, file } = await fakeLed(t);
  const led = new SysfsLed({ root, name: 'status', timers: new FakeTimers(), log: pino({ level: 'silent' }) });
  await led.open();
  led.show(LED_PATTERNS.healthy);
  assert.deepEqual([file('trigger'), file('brightness')], ['none', '255'], 'healthy: solid on at full brightness');
  led.show(LED_PATTERNS.degraded);
  assert.deepEqual([file('trigger'), file('delay_on'), file('delay_off')], ['timer', '500', '500'], 'degraded: 1 Hz');
  led.show(LED_PATTERNS.alarm);
  assert.deepEqual([file('trigger'), file('delay_on'), file('delay_off')], ['timer', '125', '125'], 'alarm: 4 Hz');
  led.show(LED_PATTERNS.updating);
  assert.equal(file('trigger'), 'heartbeat', 'updating: the kernel heartbeat');
  await led.close();
  assert.deepEqual([file('trigger'), file('brightness')], ['none', '0'], 'off at stop');
});

test('sysfs: patterns without a kernel trigger are played on brightness with the timers', async (t) => {
  const { root, file } = await fakeLed(t);
  const timers = new FakeTimers();
  const led = new SysfsLed({ root, name: 'status', timers, log: pino({ level: 'silent' }) });
  await led.open();
  // offline: two 200 ms flashes, then 1.4 s dark; the cycle is 2 s.
  assert.deepEqual(levelsAt(led, timers, file, LED_PATTERNS.offline, [0, 199, 200, 399, 400, 599, 600, 1999, 2000, 2200]), ['255', '255', '0', '0', '255', '255', '0', '0', '255', '0']);
  assert.equal(file('trigger'), 'none', 'a kernel trigger would fight the timer');
  // fault: SOS — three 200 ms dots, three 600 ms dashes, three dots, then a pause.
  const sos = levelsAt(led, timers, file, LED_PATTERNS.fault, [100, 300, 500, 700, 900, 1300, 1700, 2100, 2300, 2700, 3100, 3500, 4100, 4500, 4700, 4900, 5100, 5300, 6700, 6900]);
  const on = '255';
  const off = '0';
  assert.deepEqual(sos, [
    on, off, on, off, on, // · · ·
    off, on, on, off, on, off, on, // gap, — (1.6–2.2 s), — (2.4–3 s), — (3.2–3.8 s)
    off, on, off, on, off, on, // gap, · · ·
    off, on, // the pause, and the next round
  ]);
  led.show(LED_PATTERNS.healthy);
  timers.advanceTo(timers.now + 10_000);
  assert.equal(file('brightness'), '255', 'a new pattern stops the previous timer');
});

test('sysfs: without the timer trigger the 1 Hz and 4 Hz blinks are played by the agent', async (t) => {
  const { root, file } = await fakeLed(t, '[none] default-on');
  const timers = new FakeTimers();
  const led = new SysfsLed({ root, name: 'status', timers, log: pino({ level: 'silent' }) });
  await led.open();
  assert.deepEqual(levelsAt(led, timers, file, LED_PATTERNS.degraded, [0, 499, 500, 999, 1000, 1500]), ['255', '255', '0', '0', '255', '0']);
  assert.deepEqual(levelsAt(led, timers, file, LED_PATTERNS.alarm, [0, 125, 250, 375]), ['255', '0', '255', '0']);
  assert.deepEqual(levelsAt(led, timers, file, LED_PATTERNS.updating, [0, 70, 250, 320, 1250]), ['255', '0', '255', '0', '255'], 'heartbeat by hand');
});

test('sysfs: a missing LED is one warning and never an error', async (t) => {
  const root = await tempDir(t, 'no-leds-');
  const { log, lines } = capturingLog();
  const led = new SysfsLed({ root, name: 'nope', timers: new FakeTimers(), log });
  await led.open();
  led.show(LED_PATTERNS.alarm);
  led.show(LED_PATTERNS.offline);
  await led.close();
  assert.equal(lines.filter((l) => l.level === 40).length, 1);
  assert.match(lines[0]?.msg ?? '', /not found or not readable/);
});

test('the LED component polls the verdict, changes the pattern only on a change, and is off after stop', async () => {
  const shown: LedPattern[] = [];
  let closed = 0;
  const driver: LedDriver = { kind: 'fake', open: async () => {}, show: (p) => void shown.push(p), close: async () => void closed++ };
  const timers = new FakeTimers();
  const inputs: LedInputs = { health: 'starting', brokerConnected: false, updating: false, stopping: false };
  const led = new StatusLed({ driver, read: () => inputs, log: pino({ level: 'silent' }), timers, pollMs: 1000 });
  await led.start();
  assert.equal(led.state, 'updating');
  Object.assign(inputs, { health: 'healthy', brokerConnected: true });
  timers.advanceTo(999);
  assert.equal(led.state, 'updating', 'not before the next poll');
  timers.advanceTo(1000);
  assert.equal(led.state, 'healthy');
  timers.advanceTo(5000);
  assert.deepEqual(shown, [LED_PATTERNS.updating, LED_PATTERNS.healthy], 'an unchanged state is not written again');
  inputs.brokerConnected = false;
  inputs.health = 'degraded';
  timers.advanceTo(6000);
  assert.equal(led.state, 'offline');
  await led.stop();
  await led.stop();
  assert.equal(led.state, 'off');
  assert.equal(closed, 1, 'stop is safe twice');
  timers.advanceTo(20_000);
  assert.equal(shown.length, 3, 'no polling after stop');
  assert.equal(createStatusLed({ driver: 'none', sysfsRoot: '/sys/class/leds', activeLow: false }, { read: () => inputs, log: pino({ level: 'silent' }) }), undefined);
});

/** A stand-in for libgpiod's gpioset: logs its pid and arguments, holds "the line" until killed. */
async function fakeGpioset(dir: string, version: string): Promise<{ command: string; calls: () => Array<{ pid: number; args: string }> }> {
  const log = join(dir, `gpioset-${version}.log`);
  const command = join(dir, `gpioset-${version}`);
  writeFileSync(log, '');
  writeFileSync(
    command,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v${version}"; exit 0; fi\necho "$$ $*" >> "${log}"\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n`,
  );
  chmodSync(command, 0o755);
  const calls = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ pid: Number(line.split(' ')[0]), args: line.slice(line.indexOf(' ') + 1) }));
  return { command, calls };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('gpio with libgpiod 2: one held gpioset per change, blinking by gpioset itself', async (t) => {
  const dir = await tempDir(t, 'gpio-');
  const fake = await fakeGpioset(dir, '2.1');
  const led = new GpioLed({ chip: 'gpiochip0', line: 17, activeLow: false, timers: new FakeTimers(), log: pino({ level: 'silent' }), command: fake.command });
  t.after(() => led.close());
  await led.open();
  // Each run logs once it runs; a change right after spawning could kill it before it logs.
  led.show(LED_PATTERNS.healthy);
  await led.settled();
  await waitFor('the first gpioset run', () => fake.calls().length === 1);
  led.show(LED_PATTERNS.degraded);
  await led.settled();
  await waitFor('two gpioset runs', () => fake.calls().length === 2);
  const [solid, blink] = fake.calls();
  assert.equal(solid?.args, '-c gpiochip0 17=1');
  assert.equal(blink?.args, '-t 500ms,500ms -c gpiochip0 17=1');
  await waitFor('the first gpioset to let go of the line', () => !alive(solid!.pid));
  assert.ok(alive(blink!.pid), 'the current pattern is held');
  await led.close();
  await waitFor('the line released at close', () => !alive(blink!.pid));
});

test('gpio with libgpiod 1: a blink is one gpioset per change, active-low honoured', async (t) => {
  const dir = await tempDir(t, 'gpio-');
  const fake = await fakeGpioset(dir, '1.6.3');
  const timers = new FakeTimers();
  const led = new GpioLed({ chip: 'gpiochip1', line: 4, activeLow: true, timers, log: pino({ level: 'silent' }), command: fake.command });
  t.after(() => led.close());
  await led.open();
  led.show(LED_PATTERNS.degraded);
  for (const [at, runs] of [[0, 1], [500, 2], [1000, 3]] as const) {
    timers.advanceTo(at);
    await led.settled();
    await waitFor(`${runs} gpioset runs`, () => fake.calls().length === runs);
  }
  assert.deepEqual(fake.calls().map((c) => c.args), [
    '--mode=signal -l gpiochip1 4=1',
    '--mode=signal -l gpiochip1 4=0',
    '--mode=signal -l gpiochip1 4=1',
  ]);
  await led.close();
  await sleep(50);
  assert.ok(fake.calls().every((c) => !alive(c.pid)), 'no gpioset left behind');
});

test('gpio: a missing gpioset is one warning, and the agent carries on', async () => {
  const { log, lines } = capturingLog();
  const led = new GpioLed({ chip: 'gpiochip0', line: 1, activeLow: false, timers: new FakeTimers(), log, command: '/nonexistent/gpioset' });
  await led.open();
  led.show(LED_PATTERNS.alarm);
  led.show(LED_PATTERNS.healthy);
  await led.close();
  const warnings = lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]?.msg ?? '', /not found or not runnable/);
});
