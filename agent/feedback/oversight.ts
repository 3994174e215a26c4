import type { Logger } from 'pino';
import type { LabelRecord } from '../../protocol/feedback.js';
import type { SqliteDatabase } from '../buffer/database.js';
import type { SampleStore } from '../buffer/samples.js';
import type { Clock } from '../clock.js';
import type { AgentConfig } from '../config/schema.js';
import type { WriteBackConfig } from '../config/sensor-schema.js';
import type { EventSink } from '../events.js';
import { FailsafeSet } from '../failsafe/failsafe-set.js';
import type { FailsafeView } from '../failsafe/step-tally.js';
import type { TagBoard } from '../features/tag-board.js';
import type { TabularResult } from '../inference/tabular-decode.js';
import type { Component } from '../lifecycle/component.js';
import type { Frame } from '../frame.js';
import type { Classification, ImageModel } from '../pipeline/image-pipeline.js';
import { SegmentAudit, type SegmentsView } from '../segments/segment-audit.js';
import { SegmentStatsStore } from '../segments/segment-store.js';
import type { WriteValue } from '../sources/opcua/write-back.js';
import type { AlarmView } from '../status/snapshot.js';
import type { AccuracyView } from './accuracy.js';
import { Feedback, type GivenLabel } from './feedback.js';
import { FeedbackSync } from './feedback-sync.js';
import { listenForLabels } from './label-commands.js';
import { LabelStore } from './label-store.js';
import { manifestAccuracy } from './manifest-accuracy.js';

/** What the status JSON shows of fail-safes, live accuracy and segment audits. */
export interface OversightView {
  failsafe: FailsafeView[];
  accuracy: AccuracyView[];
  segments: SegmentsView | undefined;
}

export interface OversightOptions {
  config: AgentConfig;
  baseDir: string;
  db: SqliteDatabase;
  samples: SampleStore | undefined;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** The version each model serves now (rollout changes it). */
  servingVersion: (model: string) => string | undefined;
  channel: {
    readonly connected: boolean;
    subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): void;
    publishMessage(topic: string, payload: string): Promise<void>;
    onSession(listener: () => void): void;
  };
}

/**
 * The run-time safeguards around the models: fail-safe chains, ground truth with live
 * accuracy, and segment audits, with what they send to central. The agent wires the
 * pipelines' models and answers through it.
 */
export class Oversight {
  readonly failsafes: FailsafeSet;
  readonly feedback: Feedback;
  readonly segments: SegmentAudit | undefined;
  readonly sync: FeedbackSync;

  constructor(private readonly o: OversightOptions) {
    const { config, log, events, clock } = o;
    this.failsafes = new FailsafeSet({ models: config.models, sensorModels: config.sensorModels, baseDir: o.baseDir, events, clock, log: log.child({ component: 'failsafe' }), writeBack: (t, m, v) => this.writeBack?.(t, m, v) });
    const labels = new LabelStore(o.db);
    const segmentStore = new SegmentStatsStore(o.db);
    this.sync = new FeedbackSync({ deviceId: config.deviceId, topicPrefix: config.broker.topicPrefix, everyS: config.broker.telemetryS, labels, segments: segmentStore, channel: o.channel, clock, log: log.child({ component: 'feedback-sync' }) });
    this.segments = config.segments.enabled
      ? new SegmentAudit({ config: config.segments, store: segmentStore, events, clock, log: log.child({ component: 'segments' }), onStored: () => this.sync.wake() })
      : undefined;
    this.feedback = new Feedback({
      models: [...config.models, ...config.sensorModels],
      store: labels,
      samples: o.samples,
      servingVersion: o.servingVersion,
      manifestAccuracy: (name, version) => manifestAccuracy(o.db, name, version),
      events,
      clock,
      log: log.child({ component: 'feedback' }),
      onLabelled: (l: LabelRecord) => {
        this.segments?.labelled(l.seq, l.model, l.source, l.correct);
        this.sync.wake();
      },
    });
    listenForLabels({ channel: o.channel, topicPrefix: config.broker.topicPrefix, deviceId: config.deviceId, feedback: this.feedback, events, log: log.child({ component: 'label-commands' }) });
  }

  /** Where the manual-inspection signal is written to the PLC, once OPC-UA is built. */
  writeBack: ((target: WriteBackConfig, model: string, value: WriteValue) => void) | undefined;

  /** The tag board segment keys read tags from, once OPC-UA is built. */
  useBoard(board: TagBoard): void {
    if (this.segments) this.segments.board = board;
  }

  /** The components to start after the store and the sync, and stop before them. */
  get components(): Component[] {
    return [this.failsafes, this.sync, ...(this.segments ? [this.segments] : [])];
  }

  /** One answer of the image pipeline. */
  answer(model: ImageModel, result: Classification, frame: Frame, seq: Promise<number>): void {
    this.feedback.remember(model.name, frame, seq);
    this.segments?.observe(model.name, frame.source, result.label, result.score, result.step, seq);
  }

  /** One answer of the sensor pipeline; its segment source is the OPC-UA server of the model's first tag. */
  window(model: { name: string; config: { features: ReadonlyArray<{ tag: string }> } }, result: TabularResult): void {
    if (!this.segments) return;
    const tag = model.config.features[0]?.tag;
    const source = this.o.config.opcua.servers.find((s) => s.tags.some((t) => t.name === tag))?.id ?? 'opcua';
    this.segments.observe(model.name, source, result.label, result.score, result.step);
  }

  /** A label from the status page, the MQTT command or `edgectl label`. */
  label(given: GivenLabel): LabelRecord {
    return this.feedback.label(given);
  }

  alarms(opts: { unacknowledged?: boolean } = {}): AlarmView[] {
    return this.feedback.alarms(opts);
  }

  view(): OversightView {
    return { failsafe: this.failsafes.views(), accuracy: this.feedback.views(), segments: this.segments?.view() };
  }

  /** Models whose fallback share is above their limit, for the health verdict. */
  fallbackFindings(): string[] {
    return this.failsafes
      .views()
      .filter((v) => v.fallbackShare > v.degradedShare)
      .map((v) => `${v.model}: ${Math.round(v.fallbackShare * 100)} % of predictions from fail-safe steps in the last ${v.windowS} s (limit ${Math.round(v.degradedShare * 100)} %)`);
  }
}
