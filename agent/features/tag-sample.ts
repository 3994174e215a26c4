/** OPC-UA status classes: only `good` values are ever used as if they were measurements. */
export type Quality = 'good' | 'uncertain' | 'bad';

export type TagValue = number | string | boolean | null;

/** One reading of one tag, as its server reported it. */
export interface TagSample {
  readonly tag: string;
  readonly value: TagValue;
  readonly quality: Quality;
  /** The status code's name, e.g. `Good`, `BadSensorFailure`, `BadNoCommunication`. */
  readonly status: string;
  /** Wall ms the source (PLC, sensor) stamped; windows are aligned on it. */
  readonly sourceTs: number;
  /** Monotonic ms the agent received it. */
  readonly receivedAt: number;
  /** A marker the agent writes when the link to the server broke: no reading, a gap. */
  readonly gap?: boolean;
  /** The server confirmed the newest reading again after a gap: it ends the gap but is not a new reading. */
  readonly held?: boolean;
}

/** The numeric reading of a sample, or undefined when it is not a good number. */
export function goodNumber(s: TagSample): number | undefined {
  if (s.quality !== 'good' || s.gap) return undefined;
  if (typeof s.value === 'number' && Number.isFinite(s.value)) return s.value;
  if (typeof s.value === 'boolean') return s.value ? 1 : 0;
  return undefined;
}
