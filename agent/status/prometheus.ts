import { ROLLOUT_STATES } from '../../protocol/rollout-state.js';
import type { Counters } from '../counters.js';
import { nativeHeap } from '../memory/glibc.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import { Exposition, type Sample } from '../metrics/exposition.js';
import type { StatusSnapshot } from './snapshot.js';

/*
 * Series a feature produces are emitted only once it runs, because a made-up zero is worse
 * than an absent series: drift series appear once a model is watched against a profile.
 */

/** `/metrics`: the snapshot and the live measurements in Prometheus text format. */
export function renderMetrics(s: StatusSnapshot, counters: Counters, metrics: AgentMetrics): string {
  const x = new Exposition();
  x.gauge('edge_agent_up', 'Whether the agent is running its pipeline (1) or starting or stopping (0).', s.phase === 'running' ? 1 : 0);
  x.gauge('edge_agent_build_info', 'The agent build, as labels; the value is always 1.', [{ labels: { version: s.agentVersion, device: s.device, site: s.site }, value: 1 }]);
  x.gauge('edge_agent_uptime_seconds', 'Seconds since the agent process built its components.', s.uptimeS);
  x.gauge('edge_agent_resident_memory_bytes', 'Resident set size of the agent process.', process.memoryUsage.rss());
  const native = nativeHeap();
  if (native) {
    x.gauge('edge_agent_native_heap_bytes', "glibc's heaps: in use by the process (sharp, onnxruntime, SQLite, buffers), and free but held, what the periodic trim hands back.", [
      { labels: { state: 'in_use' }, value: native.inUseBytes },
      { labels: { state: 'free' }, value: native.freeBytes },
    ]);
  }
  x.counter(
    'edge_agent_frames_total',
    'Frames sources handed to the pipeline.',
    s.sources.map((src) => ({ labels: { source: src.id }, value: counters.sources.get(src.id)?.frames ?? 0 })),
  );
  x.counter('edge_agent_frames_rejected_total', 'Frames refused as empty, corrupt, truncated or not an image.', s.counters.rejected);
  x.counter('edge_agent_frames_dropped_total', 'Frames a free-running camera dropped because the pipeline was busy.', s.counters.dropped);
  x.counter('edge_agent_pipeline_errors_total', 'Frames that failed for a reason other than the image (model or store failure).', s.counters.errors);
  x.counter(
    'edge_agent_predictions_total',
    'Predictions committed to the outbox.',
    s.models.map((m) => ({ labels: { model: m.name }, value: metrics.models.get(m.name)?.predictions ?? 0 })),
  );
  const failsafe = s.oversight?.failsafe ?? [];
  if (failsafe.length > 0) {
    x.counter('edge_agent_predictions_by_step_total', 'Predictions by the fail-safe step that made them: model, fallback, rule or manual (inspection).', failsafe.flatMap((f) => Object.entries(f.steps).map(([step, value]) => ({ labels: { model: f.model, step }, value }))));
    x.gauge('edge_agent_fallback_share', 'Share of predictions over the fail-safe window that the serving model did not make.', failsafe.map((f) => ({ labels: { model: f.model }, value: f.fallbackShare })));
  }
  const accuracy = (s.oversight?.accuracy ?? []).filter((a) => a.accuracy !== null);
  if (accuracy.length > 0) x.gauge('edge_agent_live_accuracy', 'Accuracy over the latest labelled predictions of each model.', accuracy.map((a) => ({ labels: { model: a.model }, value: a.accuracy ?? 0 })));
  x.histogram(
    'edge_agent_inference_latency_seconds',
    'Time to classify one frame with one model: decode, preprocess and inference.',
    s.models.flatMap((m) => {
      const measures = metrics.models.get(m.name);
      return measures ? [{ labels: { model: m.name }, histogram: measures.inference }] : [];
    }),
  );
  x.histogram('edge_agent_frame_to_commit_seconds', 'Time from a frame arriving to all its predictions being durable in the outbox.', [
    { histogram: metrics.frameToCommit },
  ]);
  if (metrics.stages.size > 0) {
    x.histogram(
      'edge_agent_stage_seconds',
      'Time a frame spends in each pipeline stage: queue (waiting for a slot), preprocess (decode and resize), inference, commit (waiting for the outbox).',
      [...metrics.stages].map(([stage, histogram]) => ({ labels: { stage }, histogram })),
    );
  }
  if (s.explanations) {
    x.counter('edge_agent_explanations_total', 'Explanations stored beside their predictions.', s.explanations.explained);
    x.counter('edge_agent_explanations_skipped_total', 'Explanations skipped: over the CPU budget, or the pipeline too busy to spare a slot.', [
      { labels: { reason: 'budget' }, value: s.explanations.skippedBudget },
      { labels: { reason: 'busy' }, value: s.explanations.skippedBusy },
    ]);
    x.counter('edge_agent_explanations_failed_total', 'Explanations that failed (model swapped, prediction evicted, error).', s.explanations.failed);
  }
  x.gauge('edge_agent_outbox_pending', 'Predictions waiting in the outbox for the broker to acknowledge them.', s.outbox.pending);
  x.gauge(
    'edge_agent_outbox_oldest_pending_age_seconds',
    'Age of the oldest prediction not yet acknowledged by the broker; 0 when the outbox is empty.',
    s.outbox.oldestPendingAgeS ?? 0,
  );
  x.gauge('edge_agent_broker_connected', 'Whether the MQTT session is up (1) or not (0).', s.broker.connected ? 1 : 0);
  x.counter('edge_agent_store_write_errors_total', 'Failed writes to the SQLite store.', s.counters.storeWriteErrors);
  x.counter('edge_agent_events_total', 'Audit events recorded since start, by kind.', eventSamples(metrics));
  x.gauge('edge_agent_health', 'The health verdict: 1 for the current state, 0 for the others.', healthSamples(s));
  const managed = s.models.filter((m) => m.rollout.managed);
  if (managed.length > 0) {
    x.gauge(
      'edge_agent_rollout_state',
      'Rollout state per model: 1 for the current state, 0 for the others.',
      managed.flatMap((m) => ROLLOUT_STATES.map((state) => ({ labels: { model: m.name, state }, value: m.rollout.state === state ? 1 : 0 }))),
    );
  }
  if (s.drift.configured) {
    const levels = ['ok', 'warn', 'alarm'] as const;
    x.gauge(
      'edge_agent_drift_level',
      'Drift level per watched model: 1 for the current level (ok, warn, alarm), 0 for the others.',
      (s.drift.models ?? []).flatMap((m) => levels.map((level) => ({ labels: { model: m.model, level }, value: m.level === level ? 1 : 0 }))),
    );
    x.gauge('edge_agent_drift_psi', "Population stability index of the last drift window, per model and measured quantity (e.g. image.brightness).", s.drift.gauges.map((g) => ({ labels: { model: g.model, feature: g.name }, value: g.value })));
    x.counter('edge_agent_drift_windows_total', 'Drift windows judged per model.', (s.drift.models ?? []).map((m) => ({ labels: { model: m.model }, value: m.windows })));
  }
  if (s.disk) {
    x.gauge('edge_agent_disk_free_bytes', 'Bytes an unprivileged process can still write on the store filesystem.', s.disk.freeBytes);
    x.gauge('edge_agent_disk_size_bytes', 'Size of the store filesystem.', s.disk.totalBytes);
    x.gauge('edge_agent_store_bytes', 'Size of the SQLite store with its WAL.', s.disk.storeBytes);
  }
  if (s.storeBudget) {
    const b = s.storeBudget;
    x.gauge('edge_agent_store_quota_bytes', 'Byte budget of the store (buffer.quota.storeBytes).', b.quotaBytes);
    x.gauge('edge_agent_store_used_bytes', 'Bytes of store pages in use, checked against the quota before every write.', b.usedBytes);
    x.counter('edge_agent_store_evicted_total', 'Rows evicted to stay within the store and samples quotas, by eviction class.', Object.entries(b.evicted).map(([cls, value]) => ({ labels: { class: cls }, value })));
    x.gauge('edge_agent_store_full', 'Whether writes fail for lack of space right now (1) or not (0).', b.full ? 1 : 0);
  }
  return x.text();
}

function eventSamples(metrics: AgentMetrics): Sample[] {
  return [...metrics.eventCounts].sort(([a], [b]) => a.localeCompare(b)).map(([kind, value]) => ({ labels: { kind }, value }));
}

function healthSamples(s: StatusSnapshot): Sample[] {
  return (['starting', 'healthy', 'degraded', 'alarm', 'fault'] as const).map((state) => ({ labels: { state }, value: s.health.state === state ? 1 : 0 }));
}
