import { InferenceSession, Tensor } from 'onnxruntime-node';
import { halfToFloat32Array } from '../preprocess/float16.js';

/**
 * A tabular model over many rows at once, for Shapley values: its own onnxruntime session
 * on the model's bytes, answering one score vector per row. scikit-learn probability maps
 * are read through the tensor their ZipMap is fed with.
 */
export class RowModel {
  /** Whether rows go through the session as one [N, M] batch; false when the model takes one row per run. */
  batched: boolean | undefined;

  private constructor(
    private readonly session: InferenceSession,
    private readonly input: string,
    private readonly output: string,
    /** Features per row, when the model fixes it. */
    readonly width: number | undefined,
    /** Column labels of a scikit-learn probability map, when that is the output. */
    readonly classLabels: readonly string[] | undefined,
  ) {}

  /** Opens the model; `output` names the score tensor (the probability map's tensor or the first float tensor when absent). */
  static async open(bytes: Uint8Array, opts: { input?: string; output?: string } = {}): Promise<RowModel> {
    let model = bytes;
    let output = opts.output;
    let classLabels: string[] | undefined;
    const probe = await InferenceSession.create(bytes, { logSeverityLevel: 3 });
    const names = probe.outputNames;
    const meta = probe.outputMetadata;
    const input = opts.input ?? probe.inputNames[0];
    const inputMeta = probe.inputMetadata.find((m) => m.name === input);
    const width = inputMeta?.isTensor && typeof inputMeta.shape[1] === 'number' && inputMeta.shape[1] > 0 ? inputMeta.shape[1] : undefined;
    await probe.release();
    if (input === undefined) throw new Error('the model has no input');
    if (output === undefined) {
      const { exposeZipMapInput } = await import('../inference/zipmap.js');
      for (const name of names) {
        const exposed = exposeZipMapInput(bytes, name);
        if (exposed) {
          model = exposed.bytes;
          output = exposed.tensor;
          classLabels = exposed.classLabels;
          break;
        }
      }
    }
    output ??= meta.find((m) => m.isTensor && (m.type === 'float32' || m.type === 'float16' || m.type === 'float64'))?.name;
    if (output === undefined) throw new Error(`no score tensor among the outputs ${names.join(', ')}`);
    const session = await InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
    return new RowModel(session, input, output, width, classLabels);
  }

  /** One score vector per row. */
  async scores(rows: readonly Float32Array[]): Promise<Float32Array[]> {
    if (rows.length === 0) return [];
    const width = rows[0]!.length;
    if (this.batched !== false) {
      const data = new Float32Array(rows.length * width);
      rows.forEach((r, i) => data.set(r, i * width));
      try {
        const out = await this.run(new Tensor('float32', data, [rows.length, width]));
        this.batched = true;
        const k = out.length / rows.length;
        return rows.map((_, i) => out.subarray(i * k, (i + 1) * k));
      } catch (err) {
        if (this.batched === true || rows.length === 1) throw err;
        this.batched = false;
      }
    }
    const out: Float32Array[] = [];
    for (const r of rows) out.push(await this.run(new Tensor('float32', r, [1, width])));
    return out;
  }

  /** A predictor of one output column, for `shapleyValues`. */
  column(index: number): (rows: readonly Float32Array[]) => Promise<Float64Array> {
    return async (rows) => {
      const s = await this.scores(rows);
      return Float64Array.from(s, (v) => {
        const x = v[index];
        if (x === undefined) throw new Error(`the model has no output column ${index}`);
        return x;
      });
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }

  private async run(input: Tensor): Promise<Float32Array> {
    const out = await this.session.run({ [this.input]: input }, [this.output]);
    const t = out[this.output]!;
    if (t.type === 'float16') return halfToFloat32Array(t.data as Uint16Array);
    if (t.data instanceof Float32Array) return t.data;
    return Float32Array.from(t.data as ArrayLike<number>);
  }
}
