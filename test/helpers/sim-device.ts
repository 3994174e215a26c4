import mqtt, { type MqttClient } from 'mqtt';
import { DESIRED_STATE_MAX_BYTES, DesiredState, type ModelRef } from '../../protocol/desired-state.js';
import type { RolloutReport, RolloutState } from '../../protocol/rollout-state.js';
import { openSigned } from '../../protocol/signed-message.js';
import type { TrustStore } from '../../protocol/signing.js';
import type { DeviceStatus } from '../../protocol/status.js';
import { desiredStateTopicsOf, deviceTopics } from '../../protocol/topics.js';

/*
 * A gateway reduced to its rollout conversation: retained status, subscribed to its
 * desired-state topics, answering each verified desired state with a retained rollout
 * report, as the agent does, without loading any model. What it does with a new version
 * is its `behaviour`; `paused` holds its answer back (a device still downloading).
 */

export type Behaviour = 'commit' | 'fail' | 'silent';

export interface SimDeviceOptions {
  broker: { url: string; protocolVersion: 5 | 4 };
  prefix: string;
  id: string;
  site: string;
  /** What it serves before anything is asked of it. */
  serving: ModelRef[];
  behaviour: Behaviour;
  trust: TrustStore;
  paused?: boolean;
  online?: boolean;
}

/** A desired state as the device received it. */
export interface ReceivedDesired {
  topic: string;
  state: DesiredState;
  /** The envelope as received, to verify again with other keys. */
  envelope: unknown;
}

export class SimDevice {
  readonly received: ReceivedDesired[] = [];
  /** Desired states it refused (bad signature, schema), with why. */
  readonly refused: string[] = [];
  serving: ModelRef[];
  private paused: boolean;

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: SimDeviceOptions,
  ) {
    this.serving = [...opts.serving];
    this.paused = opts.paused ?? false;
  }

  /** Connects, publishes its status and an idle report, and subscribes to its desired state. */
  static async start(opts: SimDeviceOptions): Promise<SimDevice> {
    const client = await mqtt.connectAsync(opts.broker.url, { protocolVersion: opts.broker.protocolVersion, clientId: `sim-${opts.id}-${process.pid}-${Math.random().toString(16).slice(2, 8)}` });
    const device = new SimDevice(client, opts);
    const status: DeviceStatus = { v: 1, device: opts.id, site: opts.site, state: opts.online === false ? 'offline' : 'online', ts: Date.now(), agentVersion: '0.1.0' };
    await client.publishAsync(deviceTopics(opts.prefix, opts.id).status, JSON.stringify(status), { qos: 1, retain: true });
    await device.report('idle', 'idle');
    client.on('message', (topic, payload) => device.onDesired(topic, payload));
    await client.subscribeAsync(desiredStateTopicsOf(opts.prefix, { id: opts.id, site: opts.site }), { qos: 1 });
    return device;
  }

  /** Answers the latest desired state it holds, and every later one. */
  async resume(): Promise<void> {
    this.paused = false;
    const last = this.received[this.received.length - 1];
    if (last) await this.answer(last.state);
  }

  async stop(): Promise<void> {
    await this.client.endAsync();
  }

  private onDesired(topic: string, payload: Buffer): void {
    if (payload.length === 0) return;
    const opened = openSigned(DesiredState, payload, this.opts.trust, { maxBytes: DESIRED_STATE_MAX_BYTES });
    if (!opened.ok) {
      this.refused.push(`${opened.code}: ${opened.reason}`);
      return;
    }
    this.received.push({ topic, state: opened.value, envelope: JSON.parse(payload.toString('utf8')) as unknown });
    if (!this.paused) void this.answer(opened.value);
  }

  private async answer(state: DesiredState): Promise<void> {
    if (this.opts.behaviour === 'silent') return;
    const wanted = state.models[0];
    if (!wanted) return;
    const serves = this.serving.some((m) => m.name === wanted.name && m.version === wanted.version);
    // A rollback is always obeyed: the agent goes back to a version it ran before.
    if (serves || state.rollback || this.opts.behaviour === 'commit') {
      this.serving = [...this.serving.filter((m) => m.name !== wanted.name), wanted];
      await this.report('probation', 'committed', { desiredCounter: state.counter, ...(state.rollout ? { rolloutId: state.rollout.id } : {}) });
      return;
    }
    await this.report('smoke-test', 'rolled-back', {
      candidate: wanted,
      reason: 'smoke test failed: the model outputs NaN',
      desiredCounter: state.counter,
      ...(state.rollout ? { rolloutId: state.rollout.id } : {}),
    });
  }

  private async report(from: RolloutState, to: RolloutState, extra: Partial<RolloutReport> = {}): Promise<void> {
    const now = Date.now();
    const report: RolloutReport = { v: 1, device: this.opts.id, ts: now, serving: this.serving, state: to, lastTransition: { from, to, at: now }, ...extra };
    await this.client.publishAsync(deviceTopics(this.opts.prefix, this.opts.id).rollout, JSON.stringify(report), { qos: 1, retain: true });
  }
}
