import { join } from 'node:path';
import type { PredictionRecord } from '../../protocol/predictions.js';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema, type AgentConfig } from '../../agent/config/schema.js';
import type { StoredEvent } from '../../agent/buffer/events.js';
import { PLANT_NODES } from '../../agent/demo/plant-server.js';
import { createLogger } from '../../agent/log.js';
import { startBroker } from './broker.js';
import type { CleanupHost } from './tmp.js';

/** The plant's tags as an `opcua.servers[]` entry expects them. */
export function plantTags(names: ReadonlyArray<keyof typeof PLANT_NODES> = Object.keys(PLANT_NODES) as Array<keyof typeof PLANT_NODES>): Array<{ name: string; nodeId: string }> {
  return names.map((n) => ({ name: n, nodeId: PLANT_NODES[n] }));
}

export interface SensorAgentOptions {
  dir: string;
  /** Merged over the base config (deviceId, a folder camera that stays idle, the broker, the store). */
  config: Record<string, unknown>;
  logLevel?: string;
  /** Where the agent's JSON log lines go (stdout when absent). */
  logTo?: NodeJS.WritableStream;
}

export interface SensorAgent {
  agent: Agent;
  config: AgentConfig;
  predictions(model?: string): PredictionRecord[];
  events(kind: string): StoredEvent[];
}

/**
 * An agent in this process, fed by OPC-UA, with a real broker and store; stopped at teardown.
 * The camera is a hot folder nobody drops files into, because the agent needs one source.
 */
export async function startSensorAgent(host: CleanupHost, o: SensorAgentOptions): Promise<SensorAgent> {
  const broker = await startBroker();
  host.after(() => broker.stop());
  const { writeDefectModel } = await import('../../agent/demo/defect-model.js');
  const { defectModelEntry } = await import('../../agent/demo/defect-model.js');
  const modelPath = await writeDefectModel(join(o.dir, 'models'));
  const config = ConfigSchema.parse({
    deviceId: 'sensor-gw',
    sources: [{ id: 'inbox', type: 'folder', path: join(o.dir, 'inbox') }],
    models: [defectModelEntry(modelPath)],
    buffer: { path: join(o.dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { enabled: false },
    shutdown: { deadlineMs: 5000 },
    ...o.config,
  });
  const agent = await Agent.create({ config, baseDir: o.dir, log: createLogger(o.logLevel ?? process.env.TEST_AGENT_LOG ?? 'silent', o.logTo) });
  host.after(() => agent.stop());
  await agent.start();
  return {
    agent,
    config,
    predictions: (model) =>
      (agent.store.database.prepare('SELECT seq, payload FROM predictions ORDER BY seq').all() as Array<{ seq: number; payload: string }>)
        .map((r) => ({ ...(JSON.parse(r.payload) as PredictionRecord), seq: r.seq }))
        .filter((p) => model === undefined || p.model === model),
    events: (kind) => agent.store.events.list({ kind, limit: 10_000 }),
  };
}
