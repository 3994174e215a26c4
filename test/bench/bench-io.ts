import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchConfig, type BrokerRef } from './config.js';
import type { BenchInputs } from './inputs.js';
import { agentDrain, agentStore } from './io-agent.js';
import { barePublish, bareStore } from './io-bare.js';
import { sampleRecords } from './records.js';
import { figure, type Figure } from './report.js';
import { rotate } from './stats.js';

export interface IoBenchOptions {
  reps: number;
  storeRows: number;
  drainRows: number;
}

/** The store and the sync against bare SQLite inserts and bare QoS 1 publishes, a fresh database per run. */
export async function ioFigures(inputs: BenchInputs, broker: BrokerRef, dir: string, opts: IoBenchOptions): Promise<Figure[]> {
  mkdirSync(dir, { recursive: true });
  const storeRows = sampleRecords(opts.storeRows);
  const drainRows = sampleRecords(opts.drainRows);
  const config = (name: string) => benchConfig({ deviceId: name, model: inputs.entry, dbPath: join(dir, `${name}.db`), broker });
  const { batchSize } = config('defaults').buffer;
  // A drain of a long queue goes in backlog-sized batches, so the bare loop publishes those.
  const { backlogMaxCount: maxCount } = config('defaults').broker.batch;
  const { inflight, compression } = config('defaults').broker;
  const bareRows: number[] = [];
  const agentRows: number[] = [];
  const barePub: number[] = [];
  const agentPub: number[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const runs = [
      async () => bareRows.push(bareStore(join(dir, `bare-store-${rep}.db`), storeRows, batchSize)),
      async () => agentRows.push(await agentStore(config(`agent-store-${rep}`), storeRows)),
      async () => barePub.push(await barePublish(broker, `bare-publish-${rep}`, drainRows, maxCount)),
      async () => agentPub.push(await agentDrain(config(`agent-drain-${rep}`), drainRows)),
    ];
    for (const run of rotate(runs, rep)) await run();
  }
  return [
    figure({ name: 'store (OutboxWriter)', unit: 'rows/s', better: 'higher', agent: agentRows, baseline: bareRows, baselineName: 'bare SQLite', note: `${opts.storeRows} rows of ~320 B in transactions of ${batchSize}, WAL, synchronous=FULL` }),
    figure({
      name: 'sync drain (MqttSync)',
      unit: 'pred/s',
      better: 'higher',
      agent: agentPub,
      baseline: barePub,
      baselineName: 'bare publish',
      target: { of: 'value', op: '>=', limit: 100_000 },
      note: `backlog of ${opts.drainRows} rows, QoS 1 batches of ${maxCount}; the agent reads them from SQLite, ${compression}, ${inflight} in flight; the bare loop publishes JSON it holds in memory, one at a time`,
    }),
  ];
}
