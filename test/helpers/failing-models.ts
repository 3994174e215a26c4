import { DEFECT_MODEL } from '../../agent/demo/defect-model.js';
import { encodeModel, type InitializerSpec, type NodeSpec, writeModelFile } from '../../agent/demo/onnx-builder.js';

/*
 * Models that load and run but must never reach production: each takes the defect
 * detector's input and output so it can stand in for a new version of it.
 */

const H = DEFECT_MODEL.preprocess.height;
const W = DEFECT_MODEL.preprocess.width;

function build(name: string, initializers: InitializerSpec[], nodes: NodeSpec[]): Uint8Array {
  return encodeModel({
    name,
    inputs: [{ name: DEFECT_MODEL.input, shape: [1, 1, H, W] }],
    outputs: [{ name: DEFECT_MODEL.output, shape: [1, 2] }],
    initializers,
    nodes,
  });
}

/** The image's mean brightness as a [1, 1] tensor named `mean`. */
const meanNodes: NodeSpec[] = [
  { op: 'GlobalAveragePool', inputs: [DEFECT_MODEL.input], outputs: ['pooled'] },
  { op: 'Flatten', inputs: ['pooled'], outputs: ['mean'] },
];

/** 0/0 for every input: both scores NaN. */
export function buildNanModel(): Uint8Array {
  return build('nan-scores', [], [
    ...meanNodes,
    { op: 'Sub', inputs: ['mean', 'mean'], outputs: ['zero'] },
    { op: 'Div', inputs: ['zero', 'zero'], outputs: ['nan'] },
    { op: 'Concat', inputs: ['nan', 'nan'], outputs: [DEFECT_MODEL.output], attrs: { axis: { int: 1 } } },
  ]);
}

/** Always 50/50: a model whose confidence collapsed. */
export function buildCollapsedModel(): Uint8Array {
  return build('collapsed-confidence', [{ name: 'nothing', dims: [], data: [0] }], [
    ...meanNodes,
    { op: 'Mul', inputs: ['mean', 'nothing'], outputs: ['flat'] },
    { op: 'Concat', inputs: ['flat', 'flat'], outputs: ['logits'], attrs: { axis: { int: 1 } } },
    { op: 'Softmax', inputs: ['logits'], outputs: [DEFECT_MODEL.output], attrs: { axis: { int: 1 } } },
  ]);
}

/**
 * Right answers, far too slowly: `layers` 9×9 convolutions over 16 channels at full
 * resolution (about 0.4 GMAC each) before a head that says "ok".
 */
export function buildSlowModel(layers = 12): Uint8Array {
  const k = 9;
  const c = 16;
  const initializers: InitializerSpec[] = [
    { name: 'widen_w', dims: [c, 1, k, k], data: new Array<number>(c * k * k).fill(1 / (k * k)) },
    { name: 'mix_w', dims: [c, c, k, k], data: new Array<number>(c * c * k * k).fill(1 / (c * k * k)) },
    { name: 'head_w', dims: [c, 2], data: Array.from({ length: c }, () => [1, 0]).flat() },
  ];
  const pads = { pads: { ints: [4, 4, 4, 4] } };
  const nodes: NodeSpec[] = [{ op: 'Conv', inputs: [DEFECT_MODEL.input, 'widen_w'], outputs: ['x0'], attrs: pads }];
  for (let i = 0; i < layers; i++) nodes.push({ op: 'Conv', inputs: [`x${i}`, 'mix_w'], outputs: [`x${i + 1}`], attrs: pads });
  nodes.push(
    { op: 'GlobalAveragePool', inputs: [`x${layers}`], outputs: ['pooled'] },
    { op: 'Flatten', inputs: ['pooled'], outputs: ['features'] },
    { op: 'MatMul', inputs: ['features', 'head_w'], outputs: ['logits'] },
    { op: 'Softmax', inputs: ['logits'], outputs: [DEFECT_MODEL.output], attrs: { axis: { int: 1 } } },
  );
  return build('slow', initializers, nodes);
}

/** Writes one of the failing models into `dir` and returns its path. */
export function writeFailingModel(dir: string, kind: 'nan' | 'collapsed' | 'slow'): Promise<string> {
  const bytes = kind === 'nan' ? buildNanModel() : kind === 'collapsed' ? buildCollapsedModel() : buildSlowModel();
  return writeModelFile(dir, `${kind}-model.onnx`, bytes);
}
