import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { TabularModelConfig } from '../config/sensor-schema.js';
import type { Counters } from '../counters.js';
import { AgentError, errorMessage } from '../errors.js';
import type { EventSink } from '../events.js';
import { FeatureAssembler, type AssembledWindow } from '../features/assemble.js';
import type { TagBoard } from '../features/tag-board.js';
import type { TabularResult } from '../inference/tabular-decode.js';
import type { Component } from '../lifecycle/component.js';
import { EdgeDetector } from '../sources/opcua/edge-trigger.js';
import type { WriteValue } from '../sources/opcua/write-back.js';
import { ModelValidator } from '../validation/model-validator.js';
import { readRulesFile } from '../validation/rules-file.js';
import type { PredictionSink } from './image-pipeline.js';

/** Windows of one model waiting for inference; beyond it a window is skipped, not queued. */
const MAX_PENDING = 4;
/** How much history the tag windows keep beyond a window's size and grace (see FeatureAssembler). */
const RETAINED_EXTRA_MS = 1000;

/** A tabular model as the sensor pipeline sees it. */
export interface SensorModel {
  readonly name: string;
  readonly version: string;
  readonly config: TabularModelConfig;
  predict(features: Float32Array): Promise<TabularResult>;
}

export interface SensorPipelineOptions {
  models: readonly SensorModel[];
  board: TagBoard;
  sink: PredictionSink;
  events: EventSink;
  counters: Counters;
  clock: Clock;
  log: Logger;
  baseDir: string;
  /** Where results go back to the PLC; writes are queued, never awaited. */
  writeBack?: (target: NonNullable<TabularModelConfig['writeBack']>, model: string, value: WriteValue) => void;
  /** Inference time of one window, for the model's latency metrics. */
  onInferred?: (model: string, ms: number) => void;
  /** Sees every committed window's features and answer (drift). */
  onAnswer?: (model: SensorModel, features: Readonly<Record<string, number>>, result: TabularResult) => void;
}

interface Route {
  model: SensorModel;
  assembler: FeatureAssembler;
  validator: ModelValidator;
  source: string;
  /** The previous window's work: windows of one model are predicted in order. */
  chain: Promise<void>;
  /** Windows assembled and waiting for the model. */
  pending: number;
  skipped: number;
  lastSkip: string | undefined;
}

/**
 * Feature windows → validation → tabular model → outbox (and the PLC). A window ends on
 * the wall clock every `everyMs` (aligned, so every gateway's windows line up) or at a
 * tag's edge, and is computed `graceMs` later so late notifications are in.
 */
export class SensorPipeline implements Component {
  readonly name = 'sensor-pipeline';
  private readonly routes: Route[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Windows not predicted because the missing-value or validation policy said skip, or the model was still busy. */
  skipped = 0;

  constructor(private readonly o: SensorPipelineOptions) {
    this.routes = o.models.map((model) => {
      const c = model.config;
      const tags = [...new Set(c.features.map((f) => f.tag))];
      const rules = [...c.validation.rules, ...(c.validation.file ? readRulesFile(c.validation.file, o.baseDir, c.name) : [])];
      const validator = new ModelValidator(c.name, tags, rules, o.events);
      const server = o.board.tags.get(tags[0]!)?.server ?? 'opcua';
      return { model, assembler: new FeatureAssembler(o.board, c.features, c.window), validator, source: server, chain: Promise.resolve(), pending: 0, skipped: 0, lastSkip: undefined };
    });
    o.board.onSample((s) => {
      for (const r of this.routes) r.validator.observe(s);
    });
  }

  async start(): Promise<void> {
    for (const r of this.routes) {
      const w = r.model.config.window;
      if (w.everyMs !== undefined) this.schedule(r, w.everyMs);
      else if (w.trigger) {
        const edges = new EdgeDetector(w.trigger.edge);
        const tag = w.trigger.tag;
        this.o.board.onSample((s) => {
          if (s.tag === tag && edges.feed(s) && !this.stopped) this.later(w.graceMs, () => this.window(r, s.sourceTs));
        });
      }
    }
  }

  /** Stops scheduling windows and waits for those in progress to be committed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.routes.map((r) => r.chain));
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, Math.max(0, ms));
    this.timers.add(t);
  }

  /**
   * The window after `last` on the wall clock's `everyMs` grid, computed `graceMs` after its
   * end. A timer that fires late still computes every window (the samples are kept by source
   * time); only beyond what the tag windows retain are windows given up, and counted.
   */
  private schedule(r: Route, everyMs: number, last?: number): void {
    const { clock } = this.o;
    const { graceMs } = r.model.config.window;
    const now = clock.now();
    let end = last === undefined ? Math.floor(now / everyMs) * everyMs + everyMs : last + everyMs;
    const late = now - (end + graceMs);
    if (late > RETAINED_EXTRA_MS) {
      const missed = Math.ceil((late - RETAINED_EXTRA_MS) / everyMs);
      end += missed * everyMs;
      this.skip(r, `the agent fell ${missed} windows behind`, missed);
    }
    this.later(end + graceMs - now, () => {
      this.window(r, end);
      this.schedule(r, everyMs, end);
    });
  }

  private window(r: Route, end: number): void {
    if (r.pending >= MAX_PENDING) {
      this.skip(r, `the model is ${r.pending} windows behind`);
      return;
    }
    const arrived = this.o.clock.monotonic();
    const w = r.assembler.assemble(end, arrived);
    r.pending++;
    r.chain = r.chain.then(() => this.predict(r, w, arrived)).finally(() => r.pending--);
  }

  private async predict(r: Route, w: AssembledWindow, arrived: number): Promise<void> {
    const { model } = r;
    const c = model.config;
    const violations = r.validator.take(w.end - c.window.sizeMs, w.end);
    const flags = [...w.flags, ...new Set(violations.map((v) => `${v.rule}:${v.tag}`))];
    if (w.skip) return this.skip(r, w.skip);
    if (violations.length > 0 && c.validation.onViolation === 'skip') return this.skip(r, `validation: ${violations[0]!.message}`);
    const { clock } = this.o;
    try {
      const t0 = clock.monotonic();
      const result = await model.predict(w.values);
      this.o.onInferred?.(model.name, clock.monotonic() - t0);
      await this.o.sink.add({
        ts: Math.round(w.end),
        source: r.source,
        frameId: `window-${Math.round(w.end)}`,
        model: model.name,
        modelVersion: model.version,
        label: result.label,
        score: result.score,
        topK: result.topK,
        latencyMs: Math.max(0, Math.round((clock.monotonic() - arrived) * 100) / 100),
        ...(result.value === undefined ? {} : { value: result.value }),
        ...(result.anomalyScore === undefined ? {} : { anomalyScore: result.anomalyScore }),
        ...(result.anomaly === undefined ? {} : { anomaly: result.anomaly }),
        ...(flags.length > 0 ? { flags } : {}),
        features: w.features,
        ...(result.step === undefined ? {} : { step: result.step, fallbackReason: result.fallbackReason }),
      });
      this.o.counters.predictions++;
      this.o.onAnswer?.(model, w.features, result);
      if (r.lastSkip !== undefined) {
        this.o.events.record({ level: 'info', kind: 'sensor_window_resumed', source: model.name, message: `predicting again after ${r.skipped} skipped windows` });
        r.lastSkip = undefined;
        r.skipped = 0;
      }
      if (c.writeBack) this.o.writeBack?.(c.writeBack, model.name, valueFor(c.writeBack.value, result, flags));
    } catch (err) {
      this.o.counters.errors++;
      const code = err instanceof AgentError ? err.code : 'E_PIPELINE';
      this.o.log.error({ err, model: model.name }, 'sensor window could not be predicted');
      this.o.events.record({ level: 'error', kind: 'pipeline_error', source: model.name, message: `window ${new Date(w.end).toISOString()}: ${errorMessage(err)}`, detail: { code } });
    }
  }

  /** Counted always; an event only when a model starts skipping or the reason changes, not every window. */
  private skip(r: Route, reason: string, windows = 1): void {
    this.skipped += windows;
    r.skipped += windows;
    const kind = reason.replace(/[\d.]+/g, '#');
    if (r.lastSkip === kind) return;
    r.lastSkip = kind;
    this.o.log.warn({ model: r.model.name, reason }, 'sensor window skipped');
    this.o.events.record({ level: 'warn', kind: 'sensor_window_skipped', source: r.model.name, message: reason, detail: { model: r.model.name } });
  }
}

function valueFor(what: NonNullable<TabularModelConfig['writeBack']>['value'], r: TabularResult, flags: string[]): WriteValue {
  switch (what) {
    case 'label':
      return r.label;
    case 'score':
      return r.score;
    case 'value':
      return r.value ?? r.score;
    case 'anomalyScore':
      return r.anomalyScore ?? r.score;
    case 'anomaly':
      return r.anomaly === true || flags.length > 0 ? 1 : 0;
  }
}
