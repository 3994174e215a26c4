import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Store } from '../../../agent/buffer/store.js';
import { MqttSync } from '../../../agent/sync/mqtt-sync.js';
import { BrokerSchema } from '../../../agent/config/schema.js';
import { startBroker } from '../../helpers/broker.js';
import { sampleRecords } from '../records.js';
import { barePublish } from '../io-bare.js';
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const broker = await startBroker();
const log = pino({ level: 'silent' });
for (let r = 0; r < 3; r++) {
  const store = new Store({ config: { path: join(dir, `x${r}.db`), busyTimeoutMs: 5000 }, log });
  const recs = sampleRecords(20000);
  const ob = store.outbox as any;
  const times: Record<string, number> = { nextBatch: 0, markSent: 0, pendingAtLeast: 0 };
  for (const k of Object.keys(times)) { const f = ob[k].bind(ob); ob[k] = (...a: unknown[]) => { const t = performance.now(); try { return f(...a); } finally { times[k]! += performance.now() - t; } }; }
  const sync = new MqttSync({ deviceId: `d${r}`, site: 's', agentVersion: 'b', config: BrokerSchema.parse({ url: broker.url, protocolVersion: broker.protocolVersion }), outbox: store.outbox, events: store.events, log });
  const ac = new AbortController();
  await sync.start(ac.signal);
  while (!sync.connected) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < recs.length; i += 1000) store.outbox.append(recs.slice(i, i + 1000));
  for (const k of Object.keys(times)) times[k] = 0;
  const pub = (sync as any).publish.bind(sync); let tPub = 0;
  (sync as any).publish = async (...a: unknown[]) => { const t = performance.now(); try { return await pub(...a); } finally { tPub += performance.now() - t; } };
  const t0 = performance.now();
  sync.wake();
  while (sync.stats.predictionsAcked < recs.length) await new Promise((r) => setTimeout(r, 1));
  const total = performance.now() - t0;
  const bare = await barePublish(broker, `b${r}`, recs, 100);
  console.log({ rate: Math.round(recs.length / total * 1000), totalMs: total.toFixed(0), publishMs: tPub.toFixed(0), ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k + 'Ms', v.toFixed(0)])), bareRate: Math.round(bare), barePubMs: (20000 / bare * 1000).toFixed(0) });
  ac.abort(); await sync.stop({ deadlineMs: 1000 }); await store.stop();
}
await broker.stop();
