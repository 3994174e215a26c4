import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from './onnx-schema.js';

/*
 * Writes ONNX ModelProto bytes from a plain description of a graph. Only what the demo
 * models use: float32/int64 tensors, int/float/list attributes, the default op domain.
 */

const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');

export type ElemType = 'float32' | 'int64';
/** A fixed size, or a name for a size chosen at run time (the batch, usually). */
export type Dim = number | string;

export interface ValueSpec {
  name: string;
  type?: ElemType;
  shape: Dim[];
}

export interface InitializerSpec {
  name: string;
  type?: ElemType;
  dims: number[];
  data: ArrayLike<number>;
}

export type Attribute = { int: number } | { ints: number[] } | { float: number } | { floats: number[] } | { string: string };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, Attribute>;
}

export interface ModelSpec {
  name: string;
  doc?: string;
  modelVersion?: number;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers: InitializerSpec[];
  nodes: NodeSpec[];
  metadata?: Record<string, string>;
}

// Opset 13 with IR 7 is the oldest pairing that has every op the demo needs in its current form
// (Softmax over one axis, Gemm with optional C), so any onnxruntime since 1.6 loads the models.
const OPSET = 13;
const IR_VERSION = 7;

const ELEM_CODE: Record<ElemType, number> = { float32: 1, int64: 7 };
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function tensorType(v: ValueSpec) {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ELEM_CODE[v.type ?? 'float32'],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function rawData(init: InitializerSpec): Uint8Array {
  const count = init.dims.reduce((a, b) => a * b, 1);
  if (init.data.length !== count) {
    throw new Error(`initializer ${init.name}: ${init.data.length} values for dims [${init.dims.join(', ')}]`);
  }
  // raw_data is little-endian by definition; DataView keeps that true on any host.
  const type = init.type ?? 'float32';
  const width = type === 'float32' ? 4 : 8;
  const bytes = new Uint8Array(count * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    const v = init.data[i] ?? 0;
    if (type === 'float32') view.setFloat32(i * 4, v, true);
    else view.setBigInt64(i * 8, BigInt(Math.trunc(v)), true);
  }
  return bytes;
}

function attribute(name: string, a: Attribute) {
  if ('int' in a) return { name, type: ATTR.INT, i: a.int };
  if ('ints' in a) return { name, type: ATTR.INTS, ints: a.ints };
  if ('float' in a) return { name, type: ATTR.FLOAT, f: a.float };
  if ('floats' in a) return { name, type: ATTR.FLOATS, floats: a.floats };
  return { name, type: ATTR.STRING, s: new TextEncoder().encode(a.string) };
}

/** ModelProto bytes for the spec; the same spec always gives the same bytes. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const model = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'edge-agent-demo',
    producer_version: '1',
    model_version: spec.modelVersion ?? 1,
    doc_string: spec.doc ?? '',
    graph: {
      name: spec.name,
      node: spec.nodes.map((n, i) => ({
        name: n.name ?? `${n.op.toLowerCase()}_${i}`,
        op_type: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs ?? {}).map(([k, a]) => attribute(k, a)),
      })),
      initializer: spec.initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        data_type: ELEM_CODE[t.type ?? 'float32'],
        raw_data: rawData(t),
      })),
      input: spec.inputs.map(tensorType),
      output: spec.outputs.map(tensorType),
    },
    metadata_props: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const problem = ModelProto.verify(model);
  if (problem) throw new Error(`invalid ONNX model ${spec.name}: ${problem}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/**
 * Writes model bytes to dir/file and returns the path. An unchanged model is left alone, so
 * a running agent watching the file does not reload it; a changed one is swapped in whole.
 */
export async function writeModelFile(dir: string, file: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, file);
  const current = await readFile(path).catch(() => undefined);
  if (current && Buffer.compare(current, bytes) === 0) return path;
  await mkdir(dir, { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, path);
  return path;
}
