import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMetrics } from '../../agent/metrics/agent-metrics.js';
import { Exposition } from '../../agent/metrics/exposition.js';
import { Histogram } from '../../agent/metrics/histogram.js';
import { RecentHistogram } from '../../agent/metrics/recent-histogram.js';
import { SlidingCount } from '../../agent/metrics/sliding-count.js';
import { parseExposition } from '../helpers/prometheus.js';

test('counters, gauges and labelled histograms read back exactly, escaping included', () => {
  const h = new Histogram([0.001, 0.01, 0.1]);
  for (const v of [0.0005, 0.001, 0.005, 0.05, 0.5]) h.observe(v);
  const text = new Exposition()
    .counter('edge_agent_frames_total', 'Frames.\nSecond line \\ backslash', [
      { labels: { source: 'cam "north"\\1' }, value: 7 },
      { labels: { source: 'line\nbreak' }, value: 0 },
    ])
    .gauge('edge_agent_broker_connected', 'Up.', 1)
    .histogram('edge_agent_inference_latency_seconds', 'Latency.', [{ labels: { model: 'defect' }, histogram: h }])
    .text();
  const f = parseExposition(text);
  const frames = f.get('edge_agent_frames_total');
  assert.equal(frames?.type, 'counter');
  assert.equal(frames?.help, 'Frames.\\nSecond line \\\\ backslash');
  assert.deepEqual(frames?.samples.map((s) => [s.labels.source, s.value]), [['cam "north"\\1', 7], ['line\nbreak', 0]]);
  assert.deepEqual(f.get('edge_agent_broker_connected')?.samples, [{ name: 'edge_agent_broker_connected', labels: {}, value: 1 }]);
  const hist = f.get('edge_agent_inference_latency_seconds');
  assert.equal(hist?.type, 'histogram');
  const buckets = hist!.samples.filter((s) => s.name.endsWith('_bucket'));
  assert.deepEqual(buckets.map((b) => [b.labels.le, b.value]), [['0.001', 2], ['0.01', 3], ['0.1', 4], ['+Inf', 5]], 'cumulative, le inclusive');
  assert.ok(buckets.every((b) => b.labels.model === 'defect'));
  assert.equal(hist!.samples.find((s) => s.name.endsWith('_count'))?.value, 5);
  assert.ok(Math.abs((hist!.samples.find((s) => s.name.endsWith('_sum'))?.value ?? 0) - 0.5565) < 1e-9);
});

test('invalid metric or label names are refused rather than written', () => {
  assert.throws(() => new Exposition().gauge('edge-agent', 'x', 1), /invalid metric name/);
  assert.throws(() => new Exposition().gauge('ok', 'x', [{ labels: { 'bad-label': 'v' }, value: 1 }]), /invalid label name/);
});

test('recent quantiles come from the last minute only and are within a bucket of the truth', () => {
  const h = new RecentHistogram(60_000, 10_000);
  for (let i = 1; i <= 100; i++) h.observe(i, 1000); // 1..100 ms at t = 1 s
  const { count, values } = h.quantiles([0.5, 0.99], 2000);
  assert.equal(count, 100);
  const [p50, p99] = values as [number, number];
  assert.ok(Math.abs(p50 - 50) / 50 < 0.08, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - 99) / 99 < 0.08, `p99 ${p99}`);
  h.observe(500, 65_000);
  const later = h.quantiles([0.5], 65_000);
  assert.equal(later.count, 1, 'the first slice aged out');
  assert.ok(Math.abs((later.values[0] ?? 0) - 500) / 500 < 0.08);
  assert.deepEqual(h.quantiles([0.5], 200_000), { count: 0, values: [null] });
});

test('the rate is per second over the last minute, and over the uptime before that', () => {
  const rate = new SlidingCount(0);
  for (let t = 0; t < 30_000; t += 100) rate.add(t); // 10 per second for 30 s
  assert.ok(Math.abs(rate.rate(30_000) - 10) < 0.5, `${rate.rate(30_000)} after 30 s`);
  for (let t = 30_000; t < 120_000; t += 500) rate.add(t); // then 2 per second
  assert.ok(Math.abs(rate.rate(120_000) - 2) < 0.2, `${rate.rate(120_000)} after 2 min`);
  assert.equal(rate.rate(500_000), 0, 'nothing in the last minute');
});

test('agent metrics: commits per model, event counts, and a store failure cleared by the next commit', () => {
  let mono = 0;
  const m = new AgentMetrics({ now: () => 1_000_000 + mono, monotonic: () => mono });
  m.inferred('defect', 12);
  m.committed('defect');
  m.committed('defect');
  mono = 1000;
  m.onEvent({ level: 'error', kind: 'store_write_failed', message: 'SQLITE_FULL' });
  m.onEvent({ level: 'info', kind: 'broker_connected', message: 'up' });
  assert.equal(m.models.get('defect')?.predictions, 2);
  assert.equal(m.models.get('defect')?.inference.count, 1);
  assert.equal(m.storeWriteErrors, 1);
  assert.equal(m.storeFailing, 'SQLITE_FULL');
  assert.equal(m.recentErrors.total(mono), 1);
  assert.equal(m.brokerChangedAt, 1_001_000);
  assert.deepEqual([...m.eventCounts], [['store_write_failed', 1], ['broker_connected', 1]]);
  mono = 2000;
  m.committed('defect');
  assert.equal(m.storeFailing, undefined, 'a later commit shows the store writes again');
});
