import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Ingest } from '../../central/ingest.js';
import { DEFAULT_TOPIC_PREFIX } from '../../protocol/topics.js';
import type { CleanupHost } from './tmp.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** Central's ingest, in-process, subscribed before it resolves; stopped when `host` ends. */
export async function startIngest(host: CleanupHost, broker: { url: string; protocolVersion: 5 | 4 }, dbPath: string): Promise<Ingest> {
  const ingest = new Ingest({
    brokerUrl: broker.url,
    dbPath,
    topicPrefix: DEFAULT_TOPIC_PREFIX,
    protocolVersion: broker.protocolVersion,
    // A persistent session under a fixed id: the broker queues for ingest while it is away.
    clientId: `test-ingest-${randomUUID()}`,
    log,
    reconnectMs: 100,
  });
  host.after(() => ingest.stop());
  await ingest.start(AbortSignal.timeout(10_000));
  return ingest;
}

/** What central holds for one device, in the terms the tests assert on. */
export interface Delivered {
  rows: number;
  /** frame_id of every row, sorted; a repeat shows up twice. */
  frames: string[];
  distinctSeqs: number;
}

export function delivered(ingest: Ingest, device: string): Delivered {
  const frames = ingest.database
    .prepare<[string], string>('SELECT frame_id FROM predictions WHERE device = ? ORDER BY frame_id')
    .pluck()
    .all(device);
  const distinctSeqs = ingest.database.prepare<[string], number>('SELECT count(DISTINCT seq) FROM predictions WHERE device = ?').pluck().get(device) ?? 0;
  return { rows: frames.length, frames, distinctSeqs };
}
