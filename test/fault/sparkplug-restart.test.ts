import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { connectAsync } from 'mqtt';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { decodePayload } from '../../agent/sync/sparkplug/payloads.js';
import { agentConfig, startAgent, writeConfig } from '../helpers/agent-process.js';
import { startBroker } from '../helpers/broker.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Certificate {
  type: 'NBIRTH' | 'NDEATH';
  bdSeq: number;
}

function asNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as { toNumber?: () => number }).toNumber?.() ?? v);
}

function storedBdSeq(dbPath: string): number | undefined {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare<[], number>("SELECT value FROM sync_state WHERE key LIKE 'sparkplug.bdSeq %'").pluck().get();
  } finally {
    db.close();
  }
}

test('Sparkplug B bdSeq across kill -9 and a clean restart: each NDEATH matches its NBIRTH, the next NBIRTH takes the next value', { timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-spb-');
  const broker = await startBroker();
  host.after(() => broker.stop());
  const modelPath = await writeDefectModel(join(dir, 'models'));
  const node = 'gw-bdseq';

  // The SCADA host: records every birth and death certificate of the node, in order.
  const scada = await connectAsync(broker.url, { protocolVersion: broker.protocolVersion, clientId: `scada-${randomUUID()}` });
  host.after(() => scada.endAsync(true));
  const heard: Certificate[] = [];
  scada.on('message', (topic, payload) => {
    const type = topic.split('/')[2];
    if (type !== 'NBIRTH' && type !== 'NDEATH') return;
    const bdSeq = decodePayload(payload).metrics?.find((m) => m.name === 'bdSeq')?.value;
    heard.push({ type, bdSeq: asNumber(bdSeq) });
  });
  await scada.subscribeAsync(`spBv1.0/plant/+/${node}`, { qos: 1 });

  const base = agentConfig({ deviceId: node, broker, modelPath, folder: 'inbox', dbPath: 'agent.db' });
  const config = await writeConfig(dir, { ...base, broker: { ...base.broker, output: 'sparkplug', sparkplug: { groupId: 'plant', healthS: 3600 } } });
  const dbPath = join(dir, 'agent.db');
  const next = async (type: Certificate['type'], from: number): Promise<Certificate> => {
    await waitFor(`an ${type} after certificate ${from}`, () => heard.slice(from).some((c) => c.type === type), 20_000);
    return heard.slice(from).find((c) => c.type === type)!;
  };

  // A fresh store: the first CONNECT takes bdSeq 0.
  const first = await startAgent(host, config);
  const birth1 = await next('NBIRTH', 0);
  assert.equal(birth1.bdSeq, 0);
  assert.equal(storedBdSeq(dbPath), 0, 'the bdSeq of the CONNECT is in the store');

  // kill -9: the broker publishes the will, whose bdSeq is that of the birth.
  let mark = heard.length;
  await first.kill9();
  const death1 = await next('NDEATH', mark);
  assert.equal(death1.bdSeq, birth1.bdSeq, 'the will NDEATH carries the bdSeq of the NBIRTH it ends');

  // After the crash the node continues from the stored value rather than starting over at 0.
  mark = heard.length;
  const second = await startAgent(host, config);
  const birth2 = await next('NBIRTH', mark);
  assert.equal(birth2.bdSeq, 1, 'the NBIRTH after a kill -9 takes the next bdSeq, not 0');
  assert.equal(storedBdSeq(dbPath), 1);

  // A clean stop: the node publishes NDEATH itself with the live bdSeq, and the broker fires no will.
  mark = heard.length;
  assert.equal(await second.stop('SIGTERM'), 0, second.tail());
  const death2 = await next('NDEATH', mark);
  assert.equal(death2.bdSeq, birth2.bdSeq, 'the NDEATH of a clean stop matches the NBIRTH of its connection');

  mark = heard.length;
  const third = await startAgent(host, config);
  const birth3 = await next('NBIRTH', mark);
  assert.equal(birth3.bdSeq, 2, 'the NBIRTH after a clean restart takes the next bdSeq');
  assert.deepEqual(
    heard.slice(0, mark).map((c) => `${c.type} ${c.bdSeq}`),
    ['NBIRTH 0', 'NDEATH 0', 'NBIRTH 1', 'NDEATH 1'],
    'exactly one death per birth, each with its birth bdSeq',
  );
  assert.equal(await third.stop('SIGTERM'), 0, third.tail());
  await next('NDEATH', mark);
  assert.deepEqual(heard.slice(mark).map((c) => `${c.type} ${c.bdSeq}`), ['NBIRTH 2', 'NDEATH 2']);
});
