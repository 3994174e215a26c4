import type { PredictionBatch } from '../../protocol/predictions.js';
import type { DeviceStatus } from '../../protocol/status.js';
import type { LabelBatch, SegmentStatsBatch } from '../../protocol/feedback.js';
import type { DriftWindowBatch, EventBatch, ExplanationBatch, HealthReport, SampleMessage } from '../../protocol/telemetry.js';

/** Last known state of a device, from its status topic and its latest batch. */
export interface DeviceRow {
  device: string;
  site: string | null;
  state: string | null;
  status_ts: number | null;
  agent_version: string | null;
  last_seq: number | null;
  updated_at: number;
}

/** The table each message kind lands in, for counting. */
export type IngestTable = 'predictions' | 'events' | 'health' | 'explanations' | 'samples' | 'drift_windows' | 'labels' | 'segment_stats';

/**
 * Where ingest writes: SQLite or PostgreSQL. Every write is one transaction and
 * idempotent by its natural key, so a redelivered message changes nothing; each returns
 * how many rows were new.
 */
export interface IngestStore {
  readonly kind: 'sqlite' | 'postgres';
  storeBatch(batch: PredictionBatch, at: number): Promise<number>;
  storeEvents(batch: EventBatch, at: number): Promise<number>;
  storeHealth(report: HealthReport, at: number): Promise<number>;
  storeExplanations(batch: ExplanationBatch, at: number): Promise<number>;
  storeSample(sample: SampleMessage, data: Buffer, at: number): Promise<number>;
  storeDriftWindows(batch: DriftWindowBatch, at: number): Promise<number>;
  storeStatus(device: string, status: DeviceStatus, at: number): Promise<void>;
  /** Labels by (device, seq); a newer label of the same prediction replaces the stored one. */
  storeLabels(batch: LabelBatch, at: number): Promise<number>;
  storeSegments(batch: SegmentStatsBatch, at: number): Promise<number>;
  count(table: IngestTable, device?: string): Promise<number>;
  device(id: string): Promise<DeviceRow | undefined>;
  close(): Promise<void>;
}
