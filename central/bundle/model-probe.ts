import { InferenceSession } from 'onnxruntime-node';
import { AgentError, errorMessage } from '../../agent/errors.js';
import { TENSOR_DTYPES, type TensorSpec } from '../../protocol/manifest.js';

/** The graph's tensor inputs and outputs as a manifest lists them. */
export interface ModelInterface {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/**
 * Loads the ONNX file with onnxruntime to read its inputs and outputs; AgentError
 * E_MODEL_LOAD with onnxruntime's reason when it does not load. `shownAs` is the path
 * named in messages (the operator's file, when `path` is a copy of it).
 */
export async function describeModel(path: string, shownAs: string = path): Promise<ModelInterface> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(path, { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
  } catch (err) {
    // "Load model from <path> failed:<reason>": the path is already in our message.
    const reason = errorMessage(err).replace(/^Load model from .*? failed:\s*/s, '');
    throw new AgentError('E_MODEL_LOAD', `model ${shownAs} could not be loaded: ${reason}`, { cause: err });
  }
  try {
    const spec = (metas: readonly InferenceSession.ValueMetadata[]): TensorSpec[] =>
      // Maps and sequences (scikit-learn's probabilities) are not tensors; the agent cannot read them, so they are not listed.
      metas.flatMap((m) => (m.isTensor && (TENSOR_DTYPES as readonly string[]).includes(m.type) ? [{ name: m.name, dtype: m.type, shape: [...m.shape] }] : []));
    return { inputs: spec(session.inputMetadata), outputs: spec(session.outputMetadata) };
  } finally {
    await session.release().catch(() => undefined);
  }
}
