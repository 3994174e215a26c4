import type { Tensor } from 'onnxruntime-node';
import type { PredictionStep, ScoredLabel } from '../../protocol/predictions.js';
import type { TabularModelConfig } from '../config/sensor-schema.js';
import { AgentError } from '../errors.js';
import { Classifier } from './classifier.js';

/** What a tabular model said about one feature row. */
export interface TabularResult {
  label: string;
  /** The label's probability (classifier), the value (regressor), the anomaly score (anomaly). */
  score: number;
  topK: ScoredLabel[];
  /** A regressor's output. */
  value?: number;
  /** An anomaly detector's score: lower is more anomalous (scikit-learn's decision function). */
  anomalyScore?: number;
  anomaly?: boolean;
  /** Set by a fail-safe chain: the step that answered and why the serving model did not. */
  step?: PredictionStep;
  fallbackReason?: string;
}

/** Output names the decoder reads, fixed at load. */
export interface OutputPlan {
  kind: TabularModelConfig['output']['kind'];
  /** Class ids or anomaly label (int64 / string). */
  label?: string;
  /** Probabilities, scores or values (float). */
  scores?: string;
  /** Labels of probability columns, from the model itself (ZipMap's class labels). */
  columnLabels?: string[];
}

type Outputs = Record<string, Tensor>;

const numbers = (t: Tensor | undefined): number[] => (t ? Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v)) : []);
const firstString = (t: Tensor | undefined): string | undefined => {
  if (!t || t.data.length === 0) return undefined;
  const v = (t.data as ArrayLike<unknown>)[0];
  return typeof v === 'bigint' ? String(v) : String(v as string | number);
};

function finite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new AgentError('E_MODEL_OUTPUT', `model returned ${v} as ${what}`);
  return v;
}

/** Turns one row's outputs into a result; one per model, no per-row state. */
export class TabularDecoder {
  private readonly classifier: Classifier;

  constructor(
    private readonly plan: OutputPlan,
    private readonly config: TabularModelConfig,
  ) {
    this.classifier = new Classifier({ softmax: config.output.softmax, topK: config.output.topK }, config.labels ?? plan.columnLabels ?? []);
  }

  /** A class id from the model (int64 or string) as the configured label, when labels are configured. */
  private name(id: string): string {
    const labels = this.config.labels;
    const column = this.plan.columnLabels?.indexOf(id) ?? -1;
    if (labels && column >= 0 && labels[column]) return labels[column]!;
    if (labels && /^\d+$/.test(id) && labels[Number(id)]) return labels[Number(id)]!;
    return id;
  }

  decode(out: Outputs): TabularResult {
    const { kind, label, scores } = this.plan;
    const s = numbers(scores === undefined ? undefined : out[scores]);
    const l = label === undefined ? undefined : firstString(out[label]);
    switch (kind) {
      case 'regressor': {
        const value = finite(s[0] ?? NaN, 'the regression value');
        return { label: 'value', score: value, topK: [], value };
      }
      case 'anomaly': {
        const anomalyScore = s.length > 0 ? finite(s[0]!, 'the anomaly score') : undefined;
        // scikit-learn outlier detectors answer 1 for inliers and -1 for outliers.
        const anomaly = l !== undefined ? Number(l) === -1 : anomalyScore !== undefined && anomalyScore < (this.config.output.threshold ?? 0);
        const score = anomalyScore ?? (anomaly ? 1 : 0);
        return { label: anomaly ? 'anomaly' : 'normal', score, topK: [], anomaly, ...(anomalyScore === undefined ? {} : { anomalyScore }) };
      }
      case 'tensor': {
        const topK = s.slice(0, this.config.output.topK).map((v, i) => ({ label: this.classifier.labelOf(i), score: v }));
        return { label: topK[0]?.label ?? '', score: topK[0]?.score ?? NaN, topK };
      }
      case 'classifier': {
        if (s.length === 0) {
          if (l === undefined) throw new AgentError('E_MODEL_OUTPUT', 'model returned neither a label nor scores');
          return { label: this.name(l), score: 1, topK: [{ label: this.name(l), score: 1 }] };
        }
        const c = this.classifier.decode(s);
        const topK = c.topK;
        // The model's own label wins over the arg-max (they agree unless a threshold was baked in).
        const chosen = l === undefined ? topK[0]! : { label: this.name(l), score: this.scoreOf(l, s, c.softmaxApplied) };
        return { label: chosen.label, score: chosen.score, topK };
      }
    }
  }

  private scoreOf(id: string, scores: number[], softmaxApplied: boolean): number {
    let column = this.plan.columnLabels?.indexOf(id) ?? -1;
    if (column < 0 && /^\d+$/.test(id)) column = Number(id);
    const probs = softmaxApplied ? softmaxOf(scores) : scores;
    return probs[column] ?? NaN;
  }
}

function softmaxOf(v: number[]): number[] {
  const max = Math.max(...v);
  const e = v.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}
