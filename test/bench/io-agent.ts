import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import { MqttSync } from '../../agent/sync/mqtt-sync.js';
import { benchLogger } from './config.js';
import type { NewRecord } from './records.js';
import { sleep } from './stats.js';

/** rows/s through OutboxWriter into a fresh store, every row added at once as a busy pipeline would. */
export async function agentStore(config: AgentConfig, records: readonly NewRecord[]): Promise<number> {
  const log = benchLogger();
  const store = new Store({ config: config.buffer, log });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: config.buffer.batchSize, lingerMs: config.buffer.lingerMs });
  try {
    const t0 = performance.now();
    await Promise.all(records.map((r) => writer.add(r)));
    return records.length / ((performance.now() - t0) / 1000);
  } finally {
    await writer.stop();
    await store.stop();
  }
}

/**
 * predictions/s of MqttSync draining a backlog, as after an outage: the rows are committed
 * while the sync idles connected, then one wake and the clock runs until the last PUBACK.
 */
export async function agentDrain(config: AgentConfig, records: readonly NewRecord[]): Promise<number> {
  const log = benchLogger();
  const store = new Store({ config: config.buffer, log });
  const sync = new MqttSync({ deviceId: config.deviceId, site: config.site, agentVersion: 'bench', config: config.broker, outbox: store.outbox, events: store.events, log });
  const run = new AbortController();
  try {
    await sync.start(run.signal);
    for (let i = 0; i < 200 && !sync.connected; i++) await sleep(10);
    if (!sync.connected) throw new Error(`the sync did not connect to ${config.broker.url}`);
    for (let i = 0; i < records.length; i += 1000) store.outbox.append(records.slice(i, i + 1000));
    const t0 = performance.now();
    sync.wake();
    while (sync.stats.predictionsAcked < records.length) {
      if (performance.now() - t0 > 60_000) throw new Error(`drain stuck at ${sync.stats.predictionsAcked}/${records.length}`);
      await sleep(1);
    }
    return records.length / ((performance.now() - t0) / 1000);
  } finally {
    run.abort();
    await sync.stop({ deadlineMs: 2000 });
    await store.stop();
  }
}
