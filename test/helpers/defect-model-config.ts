import { type ModelConfig, ModelSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';

/** Writes the generated defect detector into `dir` and returns its model config as the agent would parse it. */
export async function defectModelConfig(dir: string): Promise<ModelConfig> {
  return ModelSchema.parse(defectModelEntry(await writeDefectModel(dir)));
}
