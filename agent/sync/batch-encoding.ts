import { gzip } from 'node:zlib';
import type { EncodedRows } from '../buffer/outbox.js';
import { batchIdOf } from '../../protocol/predictions.js';

/**
 * The PredictionBatch JSON of `rows`, as UTF-8, written around the records' stored JSON
 * rather than through JSON.stringify of parsed objects: the drain path parses no row.
 * Device ids match DEVICE_ID_PATTERN, so they need no escaping.
 */
export function batchJson(device: string, rows: EncodedRows, sentAt: number): Buffer {
  const id = batchIdOf(device, rows.first, rows.last);
  const head = `{"v":1,"batchId":"${id}","device":"${device}","first":${rows.first},"last":${rows.last},"sentAt":${sentAt},"predictions":[`;
  return Buffer.concat([Buffer.from(head), rows.records, TAIL]);
}

const TAIL = Buffer.from(']}');

/**
 * gzip at level 1: batches of similar records shrink about tenfold already, and the work
 * runs on libuv's thread pool, off the thread that feeds inference.
 */
export function gzipBatch(json: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => gzip(json, { level: 1 }, (err, out) => (err ? reject(err) : resolve(out))));
}
