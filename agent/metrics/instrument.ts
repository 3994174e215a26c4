import type { Clock } from '../clock.js';
import type { AgentEvent, EventSink } from '../events.js';
import type { Classification, ImageModel, PredictionSink } from '../pipeline/image-pipeline.js';
import type { AgentMetrics } from './agent-metrics.js';

/*
 * Measuring happens around the pipeline's collaborators rather than inside it, so the
 * pipeline stays about frames and the measures stay in one place.
 */

/** `model` with each successful classification timed into `metrics`. */
export function timedModel(model: ImageModel, metrics: AgentMetrics, clock: Clock): ImageModel {
  return {
    get name() {
      return model.name;
    },
    get version() {
      return model.version;
    },
    async classify(image: Buffer): Promise<Classification> {
      const t0 = clock.monotonic();
      const result = await model.classify(image);
      metrics.inferred(model.name, clock.monotonic() - t0);
      return result;
    },
  };
}

/** `sink` with each prediction counted once it is durable. */
export function countingSink(sink: PredictionSink, metrics: AgentMetrics): PredictionSink {
  return {
    add: (record) =>
      sink.add(record).then((seq) => {
        metrics.committed(record.model);
        return seq;
      }),
  };
}

/** `sink` that also tells `listener` about every event; a listener's error never reaches the recorder. */
export function tappedEvents(sink: EventSink, listener: (event: AgentEvent) => void): EventSink {
  return {
    record(event) {
      sink.record(event);
      try {
        listener(event);
      } catch {
        // measuring must never turn an audit write into a failure
      }
    },
  };
}
