import { encodeModel, writeModelFile, type InitializerSpec, type NodeSpec } from './onnx-builder.js';

/*
 * A surface-defect detector for the demo's turned flanges, built from fixed filters rather
 * than training, so it is small, deterministic and explainable:
 *
 *  1. a light Gaussian takes the edge off JPEG and sensor noise;
 *  2. scratch detectors: at 8 angles, the mean on each side of a thin line minus the line
 *     itself. A scratch is darker (or brighter) than BOTH sides; an edge of the part or the
 *     bore is darker than one side only, so taking the smaller of the two ignores edges;
 *  3. spot detectors: the same side-versus-centre test at 4 angles and two sizes, keeping
 *     the weakest; only a blob stands out in every direction, a scratch in one;
 *  4. a steel mask: where the blurred image is bright enough to be the part, shrunk so no
 *     detector reaches past the rim, the bore or the keyway onto the belt;
 *  5. per detector, the strongest masked response above its noise floor, and a logistic
 *     head over those: any clear scratch or spot makes the part a reject.
 */

/** How the agent must feed the model; mirrors a `models[]` entry of the agent config. */
export const DEFECT_MODEL = {
  name: 'defect',
  version: '1.0.0',
  labels: ['ok', 'defect'],
  input: 'image',
  output: 'probabilities',
  // 160 × 120 keeps a 4:3 camera's aspect, so scratches look the same at every angle.
  preprocess: { width: 160, height: 120, fit: 'fill', layout: 'NCHW', channels: 'GRAY', scale: 1 / 255, mean: [0], std: [1], dtype: 'float32' },
} as const;

export const DEFECT_MODEL_FILE = 'defect-detector.onnx';

const W = DEFECT_MODEL.preprocess.width;
const H = DEFECT_MODEL.preprocess.height;
const RADIUS = 4;
const SIZE = 2 * RADIUS + 1;
const LINE_ANGLES = 8;
const SPOT_ANGLES = 4;

/** Steel is brighter than this (0–1) once blurred; belt and bore are darker. */
const STEEL_LEVEL = 0.36;
/** Steel-mask blur and shrink windows, pixels; the shrink covers the filters' reach. */
const MASK_BLUR = 11;
const MASK_SHRINK = 13;
/** Responses below these are lathe marks, JPEG blocks and noise on good parts. */
const SCRATCH_FLOOR = 0.016;
const SPOT_FLOOR = 0.015;
/** Logit per unit of response above the floor, and the logit of a part with no evidence. */
const GAIN = 400;
const CLEAN_LOGIT = -4;

function gaussian(sigma: number, radius: number): number[] {
  const g: number[] = [];
  for (let y = -radius; y <= radius; y++) for (let x = -radius; x <= radius; x++) g.push(Math.exp(-(x * x + y * y) / (2 * sigma * sigma)));
  const sum = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / sum);
}

/**
 * Mean of a thin band `offset` pixels to one side of a line through the centre at `angle`,
 * minus the mean of the line itself. `width` is the band's thickness, `length` its reach.
 */
function sideKernel(angle: number, offset: number, width: number, length: number): number[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const line: number[] = [];
  const side: number[] = [];
  for (let y = -RADIUS; y <= RADIUS; y++) {
    for (let x = -RADIUS; x <= RADIUS; x++) {
      const along = x * c + y * s;
      const across = -x * s + y * c;
      const reach = Math.exp(-(along * along) / (2 * length * length));
      line.push(Math.exp(-(across * across) / (2 * width * width)) * reach);
      side.push(Math.exp(-((across - offset) ** 2) / (2 * width * width)) * reach);
    }
  }
  const ls = line.reduce((a, b) => a + b, 0);
  const ss = side.reduce((a, b) => a + b, 0);
  return side.map((v, i) => v / ss - line[i]! / ls);
}

function bank(name: string, kernels: number[][]): InitializerSpec {
  return { name, dims: [kernels.length, 1, SIZE, SIZE], data: kernels.flat() };
}

const angles = (n: number) => Array.from({ length: n }, (_, i) => (Math.PI * i) / n);
const conv = (input: string, weights: string, output: string, radius: number): NodeSpec => ({
  op: 'Conv',
  inputs: [input, weights],
  outputs: [output],
  attrs: { kernel_shape: { ints: [2 * radius + 1, 2 * radius + 1] }, pads: { ints: [radius, radius, radius, radius] } },
});

/** Dark and bright spots of one size: the weakest side-versus-centre contrast over all angles. */
function spotNodes(size: string): NodeSpec[] {
  return [
    conv('smooth', `spot_${size}_w`, `spot_${size}_sides`, RADIUS),
    { op: 'ReduceMin', inputs: [`spot_${size}_sides`], outputs: [`spot_${size}_dark`], attrs: { axes: { ints: [1] }, keepdims: { int: 1 } } },
    { op: 'Neg', inputs: [`spot_${size}_sides`], outputs: [`spot_${size}_neg`] },
    { op: 'ReduceMin', inputs: [`spot_${size}_neg`], outputs: [`spot_${size}_bright`], attrs: { axes: { ints: [1] }, keepdims: { int: 1 } } },
  ];
}

const CHANNELS = 2 * LINE_ANGLES + 4;

export function buildDefectModel(): Uint8Array {
  const sides = (offset: number, width: number, length: number, n: number) =>
    angles(n).flatMap((a) => [sideKernel(a, -offset, width, length), sideKernel(a, offset, width, length)]);
  const lineAngles = angles(LINE_ANGLES);
  const floors = [...Array<number>(2 * LINE_ANGLES).fill(-SCRATCH_FLOOR), ...Array<number>(4).fill(-SPOT_FLOOR)];

  const initializers: InitializerSpec[] = [
    { name: 'smooth_w', dims: [1, 1, 3, 3], data: gaussian(0.7, 1) },
    bank('line_left_w', lineAngles.map((a) => sideKernel(a, -2, 0.7, 2.5))),
    bank('line_right_w', lineAngles.map((a) => sideKernel(a, 2, 0.7, 2.5))),
    bank('spot_small_w', sides(1.8, 0.7, 0.9, SPOT_ANGLES)),
    bank('spot_large_w', sides(3, 1.1, 1.3, SPOT_ANGLES)),
    { name: 'steel_level', dims: [], data: [STEEL_LEVEL] },
    { name: 'steel_sharpness', dims: [], data: [150] },
    { name: 'floors', dims: [1, CHANNELS, 1, 1], data: floors },
    // Column 0 scores "ok" (always 0), column 1 "defect": softmax of the two is a logistic.
    { name: 'head_w', dims: [CHANNELS, 2], data: Array.from({ length: CHANNELS }, () => [0, GAIN]).flat() },
    { name: 'head_b', dims: [2], data: [0, CLEAN_LOGIT] },
  ];

  const nodes: NodeSpec[] = [
    conv('image', 'smooth_w', 'smooth', 1),
    conv('smooth', 'line_left_w', 'line_left', RADIUS),
    conv('smooth', 'line_right_w', 'line_right', RADIUS),
    { op: 'Min', inputs: ['line_left', 'line_right'], outputs: ['scratch_dark'] },
    { op: 'Max', inputs: ['line_left', 'line_right'], outputs: ['line_most'] },
    { op: 'Neg', inputs: ['line_most'], outputs: ['scratch_bright'] },
    ...spotNodes('small'),
    ...spotNodes('large'),
    {
      op: 'Concat',
      inputs: ['scratch_dark', 'scratch_bright', 'spot_small_dark', 'spot_small_bright', 'spot_large_dark', 'spot_large_bright'],
      outputs: ['responses'],
      attrs: { axis: { int: 1 } },
    },
    {
      op: 'AveragePool',
      inputs: ['image'],
      outputs: ['blurred'],
      attrs: { kernel_shape: { ints: [MASK_BLUR, MASK_BLUR] }, pads: { ints: Array<number>(4).fill(MASK_BLUR >> 1) } },
    },
    { op: 'Sub', inputs: ['blurred', 'steel_level'], outputs: ['above_level'] },
    { op: 'Mul', inputs: ['above_level', 'steel_sharpness'], outputs: ['steel_logit'] },
    { op: 'Sigmoid', inputs: ['steel_logit'], outputs: ['steel'] },
    // Shrinking the mask is a max-pool of its complement.
    { op: 'Neg', inputs: ['steel'], outputs: ['not_steel'] },
    {
      op: 'MaxPool',
      inputs: ['not_steel'],
      outputs: ['not_steel_grown'],
      attrs: { kernel_shape: { ints: [MASK_SHRINK, MASK_SHRINK] }, pads: { ints: Array<number>(4).fill(MASK_SHRINK >> 1) } },
    },
    { op: 'Neg', inputs: ['not_steel_grown'], outputs: ['face'] },
    { op: 'Mul', inputs: ['responses', 'face'], outputs: ['on_face'] },
    { op: 'Add', inputs: ['on_face', 'floors'], outputs: ['over_floor'] },
    { op: 'Relu', inputs: ['over_floor'], outputs: ['evidence'] },
    { op: 'GlobalMaxPool', inputs: ['evidence'], outputs: ['strongest'] },
    { op: 'Flatten', inputs: ['strongest'], outputs: ['features'], attrs: { axis: { int: 1 } } },
    { op: 'Gemm', inputs: ['features', 'head_w', 'head_b'], outputs: ['logits'] },
    { op: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attrs: { axis: { int: 1 } } },
  ];

  return encodeModel({
    name: 'defect_detector',
    doc: 'Scratch and spot detector for turned flanges; fixed filters, logistic head. Outputs [ok, defect].',
    inputs: [{ name: DEFECT_MODEL.input, shape: [1, 1, H, W] }],
    outputs: [{ name: DEFECT_MODEL.output, shape: [1, 2] }],
    initializers,
    nodes,
    metadata: { labels: DEFECT_MODEL.labels.join(','), version: DEFECT_MODEL.version },
  });
}

/** Writes `defect-detector.onnx` into dir (only when its bytes changed) and returns its path. */
export function writeDefectModel(dir: string): Promise<string> {
  return writeModelFile(dir, DEFECT_MODEL_FILE, buildDefectModel());
}

/** The `models[]` entry of an agent config that serves the defect detector written at `path`. */
export function defectModelEntry(path: string) {
  const p = DEFECT_MODEL.preprocess;
  return {
    name: DEFECT_MODEL.name,
    version: DEFECT_MODEL.version,
    path,
    labels: [...DEFECT_MODEL.labels],
    input: DEFECT_MODEL.input,
    preprocess: { ...p, mean: [...p.mean], std: [...p.std] },
    output: { tensor: DEFECT_MODEL.output, topK: 2 },
  };
}
