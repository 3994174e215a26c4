import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { Outbox } from '../buffer/outbox.js';
import { batchJson } from './batch-encoding.js';
import type { DrainRequest, DrainThreadData, WiredRows } from './drain-worker.js';

/*
 * The body of the drain's worker thread: its own connection to the store (WAL lets it read
 * beside the writer on the event loop), the backlog's rows read, wrapped as a batch and
 * compressed here, and the broker's acks for them recorded here, so a drain after an outage
 * takes none of the event loop's time that live inference needs.
 */
const data = workerData as DrainThreadData;

/**
 * The backlog takes what live inference leaves: on Linux the thread lowers its own priority
 * to nice 19 (setpriority on a thread id applies to that thread alone). Measured with the
 * camera path flat out, live throughput during a drain went from about half to about three
 * quarters of live alone, for about a fifth less drain rate. Where it cannot, it runs as is.
 */
function yieldToLive(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) setPriority(tid, 19);
  } catch {
    // no procfs, or not permitted: normal priority
  }
}

yieldToLive();
const db = new Database(data.path, { fileMustExist: true });
db.pragma(`busy_timeout = ${Math.trunc(data.busyTimeoutMs)}`);
const outbox = new Outbox(db);

function answer(m: Exclude<DrainRequest, { op: 'close' }>): { value: unknown; transfer: ArrayBuffer[] } {
  if (m.op === 'mark') return { value: outbox.markSentRanges(m.ranges, m.at), transfer: [] };
  const value: WiredRows[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const rows of outbox.encodedRuns(m.after, m.upTo, m.total, m.maxCount, m.maxBytes, m.batches)) {
    const json = batchJson(data.device, rows, m.sentAt);
    const wire = data.compression === 'gzip' ? gzipSync(json, { level: 1 }) : Buffer.from(json);
    // A copy the size of the batch, so the whole ArrayBuffer can move without copying again.
    const owned = new Uint8Array(wire);
    value.push({ ...rows, records: '', wire: owned });
    transfer.push(owned.buffer);
  }
  return { value, transfer };
}

parentPort!.on('message', (m: DrainRequest) => {
  if (m.op === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  try {
    const { value, transfer } = answer(m);
    parentPort!.postMessage({ id: m.id, value }, transfer);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
parentPort!.postMessage({ ready: true });
