import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { nativeHeap } from '../../agent/memory/glibc.js';
import type { StatusSnapshot } from '../../agent/status/snapshot.js';
import type { PredictionDetail, PredictionSummary } from '../../agent/status/store-view.js';
import { startBroker } from '../helpers/broker.js';
import { partJpeg } from '../helpers/images.js';
import { parseExposition } from '../helpers/prometheus.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

async function json<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url} answered ${res.status}`);
  return (await res.json()) as T;
}

test('a running agent: status, predictions, events, metrics and the LED agree with what happened', { timeout: 60_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'status-api-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const leds = join(dir, 'leds');
  mkdirSync(join(leds, 'status'), { recursive: true });
  for (const [f, v] of Object.entries({ brightness: '0', max_brightness: '1', trigger: '[none] timer heartbeat', delay_on: '', delay_off: '' })) writeFileSync(join(leds, 'status', f), v);
  const ledFile = (f: string) => readFileSync(join(leds, 'status', f), 'utf8');
  const inbox = join(dir, 'inbox');
  mkdirSync(inbox, { recursive: true });

  const config = ConfigSchema.parse({
    deviceId: 'status-gw',
    site: 'line-3',
    sources: [
      { id: 'cam1', type: 'synthetic', fps: 20, width: 320, height: 240, defectRate: 0.3 },
      { id: 'inbox', type: 'folder', path: inbox, stableMs: 50, pollMs: 20 },
    ],
    models: [defectModelEntry(await writeDefectModel(join(dir, 'models')))],
    buffer: { path: join(dir, 'agent.db'), lingerMs: 5 },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion, keepaliveS: 5, reconnect: { minMs: 100, maxMs: 300 } },
    status: { port: 0, led: { driver: 'sysfs', name: 'status', sysfsRoot: leds } },
    shutdown: { deadlineMs: 3000 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log });
  host.after(() => agent.stop());
  await agent.start();
  const url = agent.status!.url!;

  assert.deepEqual(await json(`${url}/readyz`), { ready: true, reasons: [] });
  writeFileSync(join(inbox, 'part-1.jpg'), await partJpeg(1));
  writeFileSync(join(inbox, 'broken.jpg'), 'this is not a JPEG');
  await waitFor('40 predictions and the folder handled', async () => {
    const s = await json<StatusSnapshot>(`${url}/api/status`);
    return s.counters.predictions >= 40 && s.counters.rejected === 1 && (s.sources.find((x) => x.id === 'inbox')?.frames ?? 0) === 1;
  }, 20_000);
  await waitFor('the LED to show healthy', () => agent.led?.state === 'healthy', 5000);
  assert.deepEqual([ledFile('trigger'), ledFile('brightness')], ['none', '1'], 'healthy: solid on');

  const s = await json<StatusSnapshot>(`${url}/api/status`);
  assert.equal(s.health.state, 'healthy', s.health.reasons.join('; '));
  assert.equal(s.phase, 'running');
  assert.deepEqual(s.models.map((m) => [m.name, m.loaded, m.rollout.state]), [['defect', true, 'not managed']]);
  assert.ok((s.models[0]?.inference.p50Ms ?? 0) > 0 && (s.models[0]?.inference.p99Ms ?? 0) >= (s.models[0]?.inference.p50Ms ?? 0), JSON.stringify(s.models[0]?.inference));
  assert.ok(s.throughput.predictionsPerS > 5, `throughput ${s.throughput.predictionsPerS}/s from a 20 fps camera`);
  assert.equal(s.sources.find((x) => x.id === 'cam1')?.state, 'live');
  assert.ok(s.disk && s.disk.freeBytes > 0 && s.disk.storeBytes > 0, JSON.stringify(s.disk));
  // Drift is on by default, but this model has no reference profile: listed as unwatched, nothing judged.
  assert.deepEqual([s.drift, s.alarms], [{ configured: false, gauges: [], models: [], unwatched: ['defect'] }, []], 'not watched without a profile, and not faked');

  // What the store says, filtered.
  const defects = await json<{ predictions: PredictionSummary[] }>(`${url}/api/predictions?label=defect&limit=500`);
  assert.ok(defects.predictions.length > 0 && defects.predictions.every((p) => p.label === 'defect'), 'only defects');
  const all = await json<{ predictions: PredictionSummary[] }>(`${url}/api/predictions?limit=10`);
  assert.equal(all.predictions.length, 10);
  assert.ok(all.predictions.every((p, i, a) => i === 0 || (a[i - 1]?.seq ?? 0) > p.seq), 'newest first');
  const flagged = await json<{ predictions: PredictionSummary[] }>(`${url}/api/predictions?flagged=true&limit=500`);
  assert.ok(flagged.predictions.every((p) => p.score < 0.6 && p.flags.includes('low_confidence')), 'only low-confidence ones');
  const detail = await json<PredictionDetail>(`${url}/api/predictions/${all.predictions[0]?.seq}`);
  assert.equal(detail.topK.length, 2);
  assert.deepEqual([detail.thumbnail, detail.explanation, detail.drift], [null, null, null]);
  const rejected = await json<{ events: Array<{ kind: string; message: string }>; kinds: string[] }>(`${url}/api/events?kind=frame_rejected`);
  assert.deepEqual(rejected.events.map((e) => e.kind), ['frame_rejected']);
  assert.match(rejected.events[0]?.message ?? '', /broken\.jpg/);
  assert.ok(['agent_started', 'broker_connected', 'frame_rejected'].every((k) => rejected.kinds.includes(k)), JSON.stringify(rejected.kinds));

  // The metrics say the same as the status, in Prometheus' words.
  const metricsText = await (await fetch(`${url}/metrics`)).text();
  const m = parseExposition(metricsText);
  const samples = [...m.values()].flatMap((f) => f.samples);
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
  assert.equal(value('edge_agent_up'), 1);
  assert.equal(value('edge_agent_build_info', { version: s.agentVersion }), 1);
  assert.equal(m.get('edge_agent_frames_total')?.type, 'counter');
  assert.equal(value('edge_agent_frames_total', { source: 'inbox' }), 1);
  assert.ok((value('edge_agent_frames_total', { source: 'cam1' }) ?? 0) >= (s.sources.find((x) => x.id === 'cam1')?.frames ?? Infinity), 'counters only grow');
  assert.equal(value('edge_agent_frames_rejected_total'), 1);
  assert.ok((value('edge_agent_predictions_total', { model: 'defect' }) ?? 0) >= 40, 'predictions counted per model');
  assert.equal(m.get('edge_agent_inference_latency_seconds')?.type, 'histogram');
  assert.ok((value('edge_agent_inference_latency_seconds_count', { model: 'defect' }) ?? 0) >= 40, 'every inference timed');
  assert.ok((value('edge_agent_frame_to_commit_seconds_count') ?? 0) >= 40, 'every frame timed to its commit');
  assert.equal(value('edge_agent_broker_connected'), 1);
  const rss = value('edge_agent_resident_memory_bytes') ?? 0;
  assert.ok(rss > 20e6 && rss < 4e9, `the agent's RSS: ${rss}`);
  const inUse = value('edge_agent_native_heap_bytes', { state: 'in_use' });
  if (nativeHeap()) assert.ok(inUse !== undefined && inUse > 1e6 && inUse < rss, `glibc's heaps in use: ${inUse} of ${rss} resident`);
  else assert.equal(inUse, undefined, 'no glibc, no native heap series');
  assert.equal(value('edge_agent_store_write_errors_total'), 0);
  for (const name of ['edge_agent_outbox_pending', 'edge_agent_outbox_oldest_pending_age_seconds', 'edge_agent_frames_dropped_total']) assert.ok(m.has(name), name);
  for (const reserved of ['edge_agent_evictions_total', 'edge_agent_drift_score', 'edge_agent_rollout_state']) assert.ok(!m.has(reserved), `${reserved} is not faked`);

  // The broker goes away: degraded with the reason, the metric and the LED follow.
  await broker.stop();
  await waitFor('the verdict to name the broker', async () => (await json<StatusSnapshot>(`${url}/api/status`)).health.reason.startsWith('broker disconnected'), 10_000);
  const offline = await json<StatusSnapshot>(`${url}/api/status`);
  assert.equal(offline.health.state, 'degraded');
  assert.equal(value('edge_agent_broker_connected'), 1, '(the earlier scrape)');
  assert.match(await (await fetch(`${url}/metrics`)).text(), /^edge_agent_broker_connected 0$/m);
  await waitFor('the LED to show offline', () => agent.led?.state === 'offline', 5000);
  assert.equal(ledFile('trigger'), 'none', 'the double blink is drawn by the agent');
  const seen = new Set<string>();
  await waitFor('the LED to blink', () => (seen.add(ledFile('brightness')), seen.size === 2), 5000, 20);

  await agent.stop();
  assert.deepEqual([ledFile('trigger'), ledFile('brightness')], ['none', '0'], 'the LED is off once the agent stopped');
});
