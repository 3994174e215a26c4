import sparkplug from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { PredictionRecord } from '../../../protocol/predictions.js';

const spB = sparkplug.get('spBv1.0')!;

/** The node control metric a host writes true to ask for a new NBIRTH. */
export const REBIRTH = 'Node Control/Rebirth';

/** The agent's health as Sparkplug metrics. */
export interface NodeHealth {
  state: string;
  reason: string;
  outboxPending: number;
}

/** Metric names of one source and model's latest prediction. */
function predictionMetrics(p: PredictionRecord, historical: boolean): UMetric[] {
  const base = `Predictions/${p.source}/${p.model}`;
  const common = { timestamp: p.ts, ...(historical ? { isHistorical: true } : {}) };
  return [
    { name: `${base}/Label`, type: 'String', value: p.label, ...common },
    { name: `${base}/Score`, type: 'Double', value: p.score, ...common },
    { name: `${base}/Sequence`, type: 'UInt64', value: p.seq, ...common },
    { name: `${base}/Frame`, type: 'String', value: p.frameId, ...common },
    { name: `${base}/Model Version`, type: 'String', value: p.modelVersion, ...common },
    { name: `${base}/Latency ms`, type: 'Double', value: p.latencyMs, ...common },
  ];
}

function healthMetrics(h: NodeHealth, ts: number): UMetric[] {
  return [
    { name: 'Health/State', type: 'String', value: h.state, timestamp: ts },
    { name: 'Health/Reason', type: 'String', value: h.reason, timestamp: ts },
    { name: 'Health/Outbox Pending', type: 'UInt64', value: h.outboxPending, timestamp: ts },
  ];
}

function encode(payload: UPayload): Buffer {
  return Buffer.from(spB.encodePayload(payload));
}

/** NBIRTH: seq 0, the bdSeq of this connection's will, every metric the node will report. */
export function birthPayload(o: { ts: number; bdSeq: number; health: NodeHealth; latest: readonly PredictionRecord[] }): Buffer {
  const metrics: UMetric[] = [
    { name: 'bdSeq', type: 'UInt64', value: o.bdSeq, timestamp: o.ts },
    { name: REBIRTH, type: 'Boolean', value: false, timestamp: o.ts },
    ...healthMetrics(o.health, o.ts),
    ...o.latest.flatMap((p) => predictionMetrics(p, false)),
  ];
  return encode({ timestamp: o.ts, seq: 0, metrics });
}

/** NDEATH: only the bdSeq, matching the NBIRTH of the same connection. */
export function deathPayload(ts: number, bdSeq: number): Buffer {
  return encode({ timestamp: ts, metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq, timestamp: ts }] });
}

/** NDATA with predictions (historical when they waited out an outage) and, optionally, health. */
export function dataPayload(o: { ts: number; seq: number; predictions: readonly PredictionRecord[]; historical: boolean; health?: NodeHealth }): Buffer {
  const metrics = o.predictions.flatMap((p) => predictionMetrics(p, o.historical));
  if (o.health) metrics.push(...healthMetrics(o.health, o.ts));
  return encode({ timestamp: o.ts, seq: o.seq, metrics });
}

/** A decoded Sparkplug payload, for the node's own NCMD handling and for tests. */
export function decodePayload(payload: Buffer): UPayload {
  return spB.decodePayload(new Uint8Array(payload));
}
