import { encodeModel, writeModelFile } from './onnx-builder.js';

/*
 * A bearing-wear classifier over one vibration reading per row: a two-layer network with
 * hand-set weights, small enough to check by hand and against a plain TypeScript copy.
 */

export const TABULAR_MODEL = {
  name: 'vibration',
  version: '1.0.0',
  labels: ['normal', 'worn'],
  input: 'features',
  output: 'probabilities',
  features: ['rms_mm_s', 'peak_mm_s', 'temperature_c', 'current_a'],
} as const;

export const TABULAR_MODEL_FILE = 'vibration-classifier.onnx';

/** A healthy motor-bearing unit's typical reading, and how far one usually strays. */
const TYPICAL = [2.0, 6.0, 45, 12];
const SPREAD = [1.5, 4.5, 10, 3];

/*
 * Hidden units, one per row of HIDDEN_W, over the standardised features (rms, peak, temp, current):
 *   vibration energy  - a worn bearing shakes more, in RMS first and in peaks after;
 *   running hot       - friction shows as heat and as extra motor current;
 *   impacting         - peaks growing faster than RMS (a high crest factor) mean a pitted race;
 *   quiet and cool    - evidence for a healthy bearing.
 * The output weighs the first three towards "worn" and the last towards "normal".
 */
const HIDDEN_W = [
  [1.0, 0.6, 0, 0],
  [0, 0, 1.0, 0.5],
  [-0.8, 1.0, 0, 0],
  [-0.7, 0, -0.7, 0],
];
const HIDDEN_B = [0, 0, 0, 0.5];
/** Rows are hidden units, columns the [normal, worn] logits. */
const OUTPUT_W = [
  [0, 1.6],
  [0, 1.2],
  [0, 0.9],
  [1.0, 0],
];
const OUTPUT_B = [1.0, -1.0];

/** [normal, worn] probabilities for one reading, in plain arithmetic: the model's reference. */
export function vibrationReference(features: readonly number[]): [number, number] {
  const z = TYPICAL.map((m, i) => ((features[i] ?? 0) - m) / SPREAD[i]!);
  const hidden = HIDDEN_W.map((row, j) => Math.max(0, row.reduce((sum, w, i) => sum + w * z[i]!, HIDDEN_B[j]!)));
  const [normal, worn] = [0, 1].map((k) => hidden.reduce((sum, h, j) => sum + h * OUTPUT_W[j]![k]!, OUTPUT_B[k]!)) as [number, number];
  const top = Math.max(normal, worn);
  const en = Math.exp(normal - top);
  const ew = Math.exp(worn - top);
  return [en / (en + ew), ew / (en + ew)];
}

/** ONNX bytes: features float32 [N, 4] → probabilities float32 [N, 2]. */
export function buildTabularModel(): Uint8Array {
  // MatMul takes the weights as [in, out], so the hidden rows become columns.
  const hiddenIn = TYPICAL.flatMap((_, i) => HIDDEN_W.map((row) => row[i]!));
  return encodeModel({
    name: 'vibration_classifier',
    doc: 'Bearing wear from vibration RMS/peak (mm/s), temperature (°C) and motor current (A). Outputs [normal, worn].',
    inputs: [{ name: TABULAR_MODEL.input, shape: ['batch', TABULAR_MODEL.features.length] }],
    outputs: [{ name: TABULAR_MODEL.output, shape: ['batch', 2] }],
    initializers: [
      { name: 'typical', dims: [4], data: TYPICAL },
      { name: 'spread', dims: [4], data: SPREAD },
      { name: 'hidden_w', dims: [4, 4], data: hiddenIn },
      { name: 'hidden_b', dims: [4], data: HIDDEN_B },
      { name: 'output_w', dims: [4, 2], data: OUTPUT_W.flat() },
      { name: 'output_b', dims: [2], data: OUTPUT_B },
    ],
    nodes: [
      { op: 'Sub', inputs: ['features', 'typical'], outputs: ['offset'] },
      { op: 'Div', inputs: ['offset', 'spread'], outputs: ['standard'] },
      { op: 'MatMul', inputs: ['standard', 'hidden_w'], outputs: ['hidden_sum'] },
      { op: 'Add', inputs: ['hidden_sum', 'hidden_b'], outputs: ['hidden_pre'] },
      { op: 'Relu', inputs: ['hidden_pre'], outputs: ['hidden'] },
      { op: 'MatMul', inputs: ['hidden', 'output_w'], outputs: ['output_sum'] },
      { op: 'Add', inputs: ['output_sum', 'output_b'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attrs: { axis: { int: 1 } } },
    ],
    metadata: { labels: TABULAR_MODEL.labels.join(','), features: TABULAR_MODEL.features.join(','), version: TABULAR_MODEL.version },
  });
}

/** Writes `vibration-classifier.onnx` into dir (only when its bytes changed) and returns its path. */
export function writeTabularModel(dir: string): Promise<string> {
  return writeModelFile(dir, TABULAR_MODEL_FILE, buildTabularModel());
}
