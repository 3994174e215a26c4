import { batchIdOf, MAX_BATCH_BYTES, type PredictionBatch, type PredictionRecord } from '../../protocol/predictions.js';

/** Wraps consecutive outbox rows into the batch central ingests; same rows, same batch id. */
export function toBatch(device: string, records: readonly PredictionRecord[], sentAt: number): PredictionBatch {
  const first = records[0]?.seq;
  const last = records.at(-1)?.seq;
  if (first === undefined || last === undefined) throw new RangeError('a batch needs at least one prediction');
  return { v: 1, batchId: batchIdOf(device, first, last), device, first, last, sentAt, predictions: [...records] };
}

/**
 * Bytes left for the records of one batch: the configured limit (never above what central
 * accepts) minus the largest envelope the device's id can produce.
 */
export function recordBudget(device: string, maxBytes: number): number {
  const big = Number.MAX_SAFE_INTEGER;
  const envelope: PredictionBatch = { v: 1, batchId: batchIdOf(device, big, big), device, first: big, last: big, sentAt: big, predictions: [] };
  return Math.min(maxBytes, MAX_BATCH_BYTES) - Buffer.byteLength(JSON.stringify(envelope));
}
