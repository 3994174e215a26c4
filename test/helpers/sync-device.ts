import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { NewPrediction } from '../../agent/buffer/outbox.js';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import type { Clock } from '../../agent/clock.js';
import { BrokerSchema, type BrokerConfig } from '../../agent/config/schema.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import type { CleanupHost } from './tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** A prediction as the pipeline would hand it to the outbox. */
export function prediction(i: number, extra: Partial<NewPrediction> = {}): NewPrediction {
  return { ts: 1_700_000_000_000 + i, source: 'cam-1', frameId: `f-${i}`, model: 'pcb-aoi', modelVersion: '1.0.0', label: 'ok', score: 0.97, topK: [{ label: 'ok', score: 0.97 }], latencyMs: 4, ...extra };
}

export interface SyncDevice {
  store: Store;
  writer: OutboxWriter;
  sync: MqttSync;
  config: BrokerConfig;
  /** Stops writer, sync and store in the supervisor's order; safe twice. */
  stop(): Promise<void>;
}

export interface SyncDeviceOptions {
  deviceId: string;
  dir: string;
  broker: { url: string; protocolVersion: 5 | 4 };
  /** Merged into the broker config before it is parsed by the agent's schema. */
  brokerConfig?: Record<string, unknown>;
  clock?: Clock;
  connect?: (url: string, o: IClientOptions) => MqttClient;
}

/**
 * The agent's store-and-forward half in this process: a real SQLite store, the outbox writer
 * and the MQTT sync, wired as agent.ts wires them. Stopped when `host` ends.
 */
export async function startSyncDevice(host: CleanupHost, o: SyncDeviceOptions): Promise<SyncDevice> {
  const clock = o.clock ? { clock: o.clock } : {};
  const store = new Store({ config: { path: join(o.dir, `${o.deviceId}.db`), busyTimeoutMs: 1000 }, log, ...clock });
  const config = BrokerSchema.parse({
    url: o.broker.url,
    protocolVersion: o.broker.protocolVersion,
    keepaliveS: 5,
    batch: { maxCount: 50, lingerMs: 10 },
    reconnect: { minMs: 100, maxMs: 400 },
    ...o.brokerConfig,
  });
  const sync = new MqttSync({ deviceId: o.deviceId, site: 'plant-7', agentVersion: '0.1.0-test', config, outbox: store.outbox, events: store.events, log, ...clock, ...(o.connect ? { connect: o.connect } : {}) });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 32, lingerMs: 5, ...clock, onCommit: () => sync.wake() });
  const run = new AbortController();
  await store.start(run.signal);
  await sync.start(run.signal);
  await writer.start(run.signal);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      run.abort();
      await writer.stop();
      await sync.stop({ deadlineMs: 2000 });
      await store.stop();
    })());
  host.after(stop);
  return { store, writer, sync, config, stop };
}
