import { gzip } from 'node:zlib';
import type { EncodedRows } from '../buffer/outbox.js';
import { batchIdOf } from '../../protocol/predictions.js';

/**
 * The PredictionBatch JSON of `rows`, written around the records' stored JSON rather than
 * through JSON.stringify of parsed objects: the drain path builds one string per batch.
 * Device ids match DEVICE_ID_PATTERN, so they need no escaping.
 */
export function batchJson(device: string, rows: EncodedRows, sentAt: number): string {
  const id = batchIdOf(device, rows.first, rows.last);
  return `{"v":1,"batchId":"${id}","device":"${device}","first":${rows.first},"last":${rows.last},"sentAt":${sentAt},"predictions":[${rows.records}]}`;
}

/**
 * gzip at level 1: batches of similar records shrink about tenfold already, and the work
 * runs on libuv's thread pool, off the thread that feeds inference.
 */
export function gzipBatch(json: string): Promise<Buffer> {
  return new Promise((resolve, reject) => gzip(json, { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))));
}
