import { ROLLOUT_STATES } from '../../protocol/rollout-state.js';
import type { Counters } from '../counters.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import { Exposition, type Sample } from '../metrics/exposition.js';
import type { StatusSnapshot } from './snapshot.js';

/*
 * Reserved for the features that will produce them, and not emitted before, because a
 * made-up zero is worse than an absent series: edge_agent_evictions_total (store quota),
 * edge_agent_drift_score{model,feature} (drift).
 */

/** `/metrics`: the snapshot and the live measurements in Prometheus text format. */
export function renderMetrics(s: StatusSnapshot, counters: Counters, metrics: AgentMetrics): string {
  const x = new Exposition();
  x.gauge('edge_agent_up', 'Whether the agent is running its pipeline (1) or starting or stopping (0).', s.phase === 'running' ? 1 : 0);
  x.gauge('edge_agent_build_info', 'The agent build, as labels; the value is always 1.', [{ labels: { version: s.agentVersion, device: s.device, site: s.site }, value: 1 }]);
  x.gauge('edge_agent_uptime_seconds', 'Seconds since the agent process built its components.', s.uptimeS);
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
  if (s.disk) {
    x.gauge('edge_agent_disk_free_bytes', 'Bytes an unprivileged process can still write on the store filesystem.', s.disk.freeBytes);
    x.gauge('edge_agent_disk_size_bytes', 'Size of the store filesystem.', s.disk.totalBytes);
    x.gauge('edge_agent_store_bytes', 'Size of the SQLite store with its WAL.', s.disk.storeBytes);
  }
  return x.text();
}

function eventSamples(metrics: AgentMetrics): Sample[] {
  return [...metrics.eventCounts].sort(([a], [b]) => a.localeCompare(b)).map(([kind, value]) => ({ labels: { kind }, value }));
}

function healthSamples(s: StatusSnapshot): Sample[] {
  return (['starting', 'healthy', 'degraded', 'alarm', 'fault'] as const).map((state) => ({ labels: { state }, value: s.health.state === state ? 1 : 0 }));
}
