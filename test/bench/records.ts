import type { PredictionRecord } from '../../protocol/predictions.js';

export type NewRecord = Omit<PredictionRecord, 'seq'>;

const LABELS = ['goldfish, Carassius auratus', 'tabby, tabby cat', 'tiger cat', 'Egyptian cat', 'lynx, catamount'];

/**
 * Predictions shaped like SqueezeNet's (top-3 ImageNet labels), about 300 bytes of JSON
 * each, the size the store and publish figures in benchmarks.md are quoted for.
 */
export function sampleRecords(n: number, start = 0): NewRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    const top = LABELS[i % LABELS.length]!;
    return {
      ts: 1_760_000_000_000 + i * 14,
      source: 'cam1',
      frameId: `line3-cam1-${String(i).padStart(8, '0')}`,
      model: 'squeezenet',
      modelVersion: '1.1-fp16',
      label: top,
      score: 0.9 - (i % 7) * 0.01,
      topK: [
        { label: top, score: 0.9 - (i % 7) * 0.01 },
        { label: LABELS[(i + 1) % LABELS.length]!, score: 0.05 },
        { label: LABELS[(i + 2) % LABELS.length]!, score: 0.01 },
      ],
      latencyMs: 12.5 + (i % 10),
    };
  });
}
