import protobuf from 'protobufjs';

/*
 * scikit-learn classifiers exported by skl2onnx end in a ZipMap node that turns the
 * probability tensor into a sequence of maps, which onnxruntime-node cannot return at
 * all ("Non tensor type is temporarily not supported"). Asking only for the label would
 * lose the probabilities, so the model is edited at the protobuf wire level: the ZipMap's
 * input tensor is added as one more graph output. Nothing else in the file is touched,
 * so fields this code does not know about survive byte for byte.
 */

/** ModelProto.graph, GraphProto.node / .output, NodeProto and AttributeProto field numbers (onnx.proto). */
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_OUTPUT = 12;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTR_NAME = 1;
const ATTR_INTS = 8;
const ATTR_STRINGS = 9;
const TENSOR_FLOAT = 1;

export interface ExposedProbabilities {
  /** The model bytes with the probability tensor as an extra output. */
  bytes: Uint8Array;
  /** Name of that tensor, [N, classes] float. */
  tensor: string;
  /** The map keys in column order (ZipMap's classlabels), as strings. */
  classLabels: string[];
}

interface Field {
  no: number;
  wire: number;
  start: number;
  end: number;
  /** For length-delimited fields: where the payload starts. */
  body: number;
}

function fields(buf: Uint8Array, start = 0, end = buf.length): Field[] {
  const r = protobuf.Reader.create(buf.subarray(0, end));
  r.pos = start;
  const out: Field[] = [];
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    let body = r.pos;
    if (wire === 2) {
      const len = r.uint32();
      body = r.pos;
      r.pos += len;
    } else r.skipType(wire);
    out.push({ no, wire, start: at, end: r.pos, body });
  }
  return out;
}

const text = (buf: Uint8Array, f: Field) => Buffer.from(buf.subarray(f.body, f.end)).toString('utf8');

function zipMapOf(buf: Uint8Array, node: Field, outputName: string): { input: string; labels: string[] } | undefined {
  const parts = fields(buf, node.body, node.end);
  const op = parts.find((p) => p.no === NODE_OP_TYPE);
  if (!op || text(buf, op) !== 'ZipMap') return undefined;
  if (!parts.some((p) => p.no === NODE_OUTPUT && text(buf, p) === outputName)) return undefined;
  const input = parts.find((p) => p.no === NODE_INPUT);
  if (!input) return undefined;
  const labels: string[] = [];
  for (const a of parts.filter((p) => p.no === NODE_ATTRIBUTE)) {
    const attr = fields(buf, a.body, a.end);
    const name = attr.find((p) => p.no === ATTR_NAME);
    if (!name || !text(buf, name).startsWith('classlabels_')) continue;
    for (const v of attr) {
      if (v.no === ATTR_STRINGS) labels.push(text(buf, v));
      if (v.no === ATTR_INTS && v.wire === 0) labels.push(String(protobuf.Reader.create(buf.subarray(v.start, v.end)).skip(1).int64()));
      if (v.no === ATTR_INTS && v.wire === 2) {
        const r = protobuf.Reader.create(buf.subarray(0, v.end));
        r.pos = v.body;
        while (r.pos < v.end) labels.push(String(r.int64()));
      }
    }
  }
  return { input: text(buf, input), labels };
}

function lengthDelimited(no: number, payload: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((no << 3) | 2).bytes(payload);
  return w.finish();
}

/** A ValueInfoProto for a float tensor of unknown shape. */
function floatOutput(name: string): Uint8Array {
  const tensorType = protobuf.Writer.create().uint32((1 << 3) | 0).int32(TENSOR_FLOAT).finish();
  const typeProto = protobuf.Writer.create().uint32((1 << 3) | 2).bytes(tensorType).finish();
  return protobuf.Writer.create().uint32((1 << 3) | 2).string(name).uint32((2 << 3) | 2).bytes(typeProto).finish();
}

/**
 * When `outputName` is produced by a ZipMap, the model with the ZipMap's input tensor as an
 * extra graph output; undefined when there is no such ZipMap.
 */
export function exposeZipMapInput(model: Uint8Array, outputName: string): ExposedProbabilities | undefined {
  const top = fields(model);
  const graph = top.find((f) => f.no === MODEL_GRAPH && f.wire === 2);
  if (!graph) return undefined;
  const graphFields = fields(model, graph.body, graph.end);
  let found: { input: string; labels: string[] } | undefined;
  for (const f of graphFields) {
    if (f.no !== GRAPH_NODE || f.wire !== 2) continue;
    found = zipMapOf(model, f, outputName);
    if (found) break;
  }
  if (!found) return undefined;
  const extra = lengthDelimited(GRAPH_OUTPUT, floatOutput(found.input));
  const oldGraph = model.subarray(graph.body, graph.end);
  const newGraph = Buffer.concat([oldGraph, extra]);
  const bytes = Buffer.concat([model.subarray(0, graph.start), lengthDelimited(MODEL_GRAPH, newGraph), model.subarray(graph.end)]);
  return { bytes, tensor: found.input, classLabels: found.labels };
}
