import Database from 'better-sqlite3';
import { connect } from 'mqtt';
import { batchIdOf } from '../../protocol/predictions.js';
import { DEFAULT_TOPIC_PREFIX, deviceTopics } from '../../protocol/topics.js';
import type { BrokerRef } from './config.js';
import type { NewRecord } from './records.js';

/*
 * The I/O baselines, written against better-sqlite3 and mqtt directly: the same rows and
 * the same batch sizes as the agent, without the agent's classes around them.
 */

/** The agent's prediction table as its migrations leave it, so index upkeep costs the same. */
const DDL = `
  CREATE TABLE predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, model TEXT NOT NULL,
    model_version TEXT NOT NULL, label TEXT NOT NULL, score REAL NOT NULL, payload TEXT NOT NULL, keep INTEGER NOT NULL DEFAULT 0
  );
`;

/** rows/s of batched inserts with the agent's pragmas (WAL, synchronous=FULL: one fsync per batch). */
export function bareStore(path: string, records: readonly NewRecord[], batchSize: number): number {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(DDL);
    const insert = db.prepare('INSERT INTO predictions (ts, source, model, model_version, label, score, payload) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const batch = db.transaction((rows: readonly NewRecord[]) => {
      for (const r of rows) insert.run(r.ts, r.source, r.model, r.modelVersion, r.label, r.score, JSON.stringify(r));
    });
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += batchSize) batch(records.slice(i, i + batchSize));
    return records.length / ((performance.now() - t0) / 1000);
  } finally {
    db.close();
  }
}

/**
 * predictions/s of QoS 1 batches of `batchSize`, one batch in flight at a time: the agent
 * keeps a device's rows in order the same way, so a wider window would compare unlike things.
 */
export async function barePublish(broker: BrokerRef, deviceId: string, records: readonly NewRecord[], batchSize: number): Promise<number> {
  const client = connect(broker.url, { protocolVersion: broker.protocolVersion, clientId: `${deviceId}-bare`, reconnectPeriod: 0 });
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  try {
    const topic = deviceTopics(DEFAULT_TOPIC_PREFIX, deviceId).predictions;
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += batchSize) {
      const first = i + 1;
      const predictions = records.slice(i, i + batchSize).map((r, k) => ({ ...r, seq: first + k }));
      const last = first + predictions.length - 1;
      const batch = { v: 1, batchId: batchIdOf(deviceId, first, last), device: deviceId, first, last, sentAt: Date.now(), predictions };
      await client.publishAsync(topic, JSON.stringify(batch), { qos: 1 });
    }
    return records.length / ((performance.now() - t0) / 1000);
  } finally {
    await client.endAsync();
  }
}
