import { pino, type Logger } from 'pino';
import { ConfigSchema, type AgentConfig, type AgentConfigInput } from '../../agent/config/schema.js';

type ModelEntry = AgentConfigInput['models'][number];

export interface BrokerRef {
  url: string;
  protocolVersion: 4 | 5;
}

/**
 * An agent config as a plant would write it, parsed by the agent's own schema so every
 * default (pipeline concurrency, queue size, outbox batch and linger, sync batching) is
 * the shipped one. The synthetic source only satisfies the schema; the bench feeds the queue.
 */
export function benchConfig(opts: { deviceId: string; model: ModelEntry; dbPath: string; broker: BrokerRef; sourceDir?: string }): AgentConfig {
  const source = opts.sourceDir ? { id: 'cam1', type: 'folder' as const, path: opts.sourceDir } : { id: 'cam1', type: 'synthetic' as const };
  return ConfigSchema.parse({
    deviceId: opts.deviceId,
    site: 'bench',
    sources: [source],
    models: [opts.model],
    buffer: { path: opts.dbPath },
    broker: { url: opts.broker.url, protocolVersion: opts.broker.protocolVersion },
    status: { enabled: false },
    // BENCH_TRIM_MS sets memory.trimIntervalMs, to see what native heap trimming costs and saves.
    ...(process.env.BENCH_TRIM_MS ? { memory: { trimIntervalMs: Number(process.env.BENCH_TRIM_MS) } } : {}),
  });
}

/** Errors only, to stderr: the table owns stdout. */
export function benchLogger(): Logger {
  return pino({ level: process.env.BENCH_LOG ?? 'error' }, pino.destination(2));
}
