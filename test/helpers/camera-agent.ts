import { Writable } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { withAgentDb } from './agent-db.js';
import type { TestBroker } from './broker.js';
import type { CleanupHost } from './tmp.js';

export interface CameraAgent {
  agent: Agent;
  dbPath: string;
  /** Every log line the agent wrote, as text. */
  logText(): string;
}

/**
 * An agent in this process with the given camera sources, two copies of the defect model
 * (`defect-a`, `defect-b`) so routing can be told apart, a real SQLite file and broker.
 * Stopped when `host` ends.
 */
export async function startCameraAgent(host: CleanupHost, dir: string, broker: TestBroker, sources: unknown[], extra: Record<string, unknown> = {}): Promise<CameraAgent> {
  const modelPath = await writeDefectModel(join(dir, 'models'));
  const config = ConfigSchema.parse({
    deviceId: 'camera-gw',
    sources,
    models: [{ ...defectModelEntry(modelPath), name: 'defect-a' }, { ...defectModelEntry(modelPath), name: 'defect-b' }],
    buffer: { path: join(dir, 'agent.db'), lingerMs: 5 },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion, keepaliveS: 5, reconnect: { minMs: 100, maxMs: 300 } },
    status: { port: 0, sourceStaleS: 1 },
    shutdown: { deadlineMs: 3000 },
    ...extra,
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const agent = await Agent.create({ config, baseDir: dir, log });
  host.after(() => agent.stop());
  await agent.start();
  return { agent, dbPath: config.buffer.path, logText: () => lines.join('') };
}

/** Committed predictions per source: how many, and which models answered. */
export function predictionsBySource(dbPath: string): Map<string, { count: number; models: string[] }> {
  const rows = withAgentDb(dbPath, (db) => db.prepare<[], { source: string; model: string; n: number }>('SELECT source, model, count(*) AS n FROM predictions GROUP BY source, model ORDER BY source, model').all());
  const out = new Map<string, { count: number; models: string[] }>();
  for (const r of rows) {
    const e = out.get(r.source) ?? { count: 0, models: [] };
    e.count += r.n;
    e.models.push(r.model);
    out.set(r.source, e);
  }
  return out;
}

/** Predictions of one source (over all models). */
export function predictionCount(dbPath: string, source: string): number {
  return predictionsBySource(dbPath).get(source)?.count ?? 0;
}

/** Audit event kinds about `source`, oldest first. */
export function eventKinds(dbPath: string, source: string): string[] {
  return withAgentDb(dbPath, (db) => db.prepare<[string], string>('SELECT kind FROM events WHERE source = ? ORDER BY id').pluck().all(source));
}

/** The status page's state of one source. */
export function sourceStateOf(agent: Agent, source: string): string | undefined {
  return agent.snapshot().sources.find((s) => s.id === source)?.state;
}
