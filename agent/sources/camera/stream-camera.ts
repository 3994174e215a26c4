import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { AgentError, errorMessage } from '../../errors.js';
import type { EventSink } from '../../events.js';
import type { Component } from '../../lifecycle/component.js';
import { Backoff, sleep } from '../../lifecycle/backoff.js';
import type { CameraOutput } from './camera-output.js';
import { recordEvent } from './folder-filing.js';
import { JpegFramer } from './jpeg-framer.js';
import type { CaptureRequest, CaptureTarget } from './trigger.js';

/** Opens the camera's byte stream; it ends or throws when the connection does, and stops on `signal`. */
export type OpenStream = (signal: AbortSignal) => AsyncIterable<Uint8Array>;

export interface StreamCameraOptions {
  id: string;
  /** What the camera is, for logs and events, without credentials. */
  target: string;
  stallTimeoutMs: number;
  /** Added to the stall timeout before a connection's first frame: connecting and probing the stream take time. */
  firstFrameGraceMs: number;
  reconnect: { minMs: number; maxMs: number };
  maxBytes: number;
  open: OpenStream;
  output: CameraOutput;
  events: EventSink;
  clock: Clock;
  log: Logger;
}

const REFUSAL_CODES = { truncated: 'E_FRAME_TRUNCATED', corrupt: 'E_FRAME_CORRUPT', too_large: 'E_FRAME_TOO_LARGE' } as const;

/**
 * A camera that streams JPEGs (MJPEG over HTTP, ffmpeg's pipe): connect, split the bytes
 * into frames, and when the stream ends, fails or goes quiet for `stallTimeoutMs`, drop
 * it and connect again after a jittered backoff, for as long as the agent runs. The
 * backoff starts over once a connection has delivered a frame.
 */
export class StreamCamera implements Component, CaptureTarget {
  readonly name: string;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  /** Monotonic ms since when the camera is down, undefined while it delivers. */
  private downSince: number | undefined;
  /** Connections made, for tests and the log. */
  connections = 0;

  constructor(private readonly opts: StreamCameraOptions) {
    this.name = `camera:${opts.id}`;
    this.backoff = new Backoff(opts.reconnect);
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.loop || this.stopping.signal.aborted) return;
    signal.addEventListener('abort', () => this.stopping.abort(), { once: true });
    this.loop = this.run();
    this.opts.log.info({ camera: this.opts.target }, 'camera started');
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  capture(request: CaptureRequest): void {
    this.opts.output.trigger(request);
  }

  private async run(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      const reason = await this.connectOnce();
      if (stop.aborted) return;
      this.wentDown(reason);
      const delay = this.backoff.next();
      this.opts.log.info({ delayMs: delay, reason: reason.message }, 'camera reconnects after a pause');
      await sleep(delay, stop);
    }
  }

  /** One connection, until it ends; resolves with why it ended. */
  private async connectOnce(): Promise<AgentError> {
    const { clock, stallTimeoutMs, output } = this.opts;
    const connection = new AbortController();
    const abortConnection = () => connection.abort();
    this.stopping.signal.addEventListener('abort', abortConnection, { once: true });
    const framer = new JpegFramer(this.opts.maxBytes);
    const openedAt = clock.monotonic();
    let stalled = false;
    let delivered = false;
    // The watchdog looks a few times per timeout: a stall is found within 1.25 × stallTimeoutMs.
    const watchdog = setInterval(() => {
      const quiet = clock.monotonic() - (delivered ? output.lastSeenAt! : openedAt);
      if (quiet > stallTimeoutMs + (delivered ? 0 : this.opts.firstFrameGraceMs)) {
        stalled = true;
        connection.abort();
      }
    }, Math.max(50, Math.min(1000, stallTimeoutMs / 4)));
    this.connections++;
    try {
      for await (const chunk of this.opts.open(connection.signal)) {
        for (const out of framer.push(chunk)) {
          if (out.kind === 'refused') {
            output.refuse(REFUSAL_CODES[out.reason], `${out.reason.replace('_', ' ')} frame (${out.bytes} bytes) in the stream`, out.bytes);
            continue;
          }
          output.frame(out.data);
          if (!delivered) {
            delivered = true;
            this.cameBack();
          }
        }
        if (connection.signal.aborted) break;
      }
      return stalled ? this.stallError() : new AgentError('E_CAMERA_ENDED', `${this.opts.target}: the stream ended`, { retryable: true });
    } catch (err) {
      if (stalled) return this.stallError();
      return err instanceof AgentError ? err : new AgentError('E_CAMERA_STREAM', `${this.opts.target}: ${errorMessage(err)}`, { retryable: true, cause: err });
    } finally {
      clearInterval(watchdog);
      connection.abort();
      this.stopping.signal.removeEventListener('abort', abortConnection);
    }
  }

  private stallError(): AgentError {
    return new AgentError('E_CAMERA_STALLED', `${this.opts.target}: no frame for ${this.opts.stallTimeoutMs} ms`, { retryable: true });
  }

  /** The first frame of a connection: the camera works (again). */
  private cameBack(): void {
    this.backoff.reset();
    if (this.downSince === undefined) return;
    const downMs = Math.round(this.opts.clock.monotonic() - this.downSince);
    this.downSince = undefined;
    this.opts.log.info({ downMs }, 'camera resumed');
    recordEvent(this.opts.events, this.opts.log, { level: 'info', kind: 'camera_resumed', source: this.opts.id, message: `${this.opts.id}: frames again after ${downMs} ms`, detail: { downMs } });
  }

  /** One event per outage, not per retry. */
  private wentDown(reason: AgentError): void {
    if (this.downSince !== undefined) return void this.opts.log.debug({ reason: reason.message }, 'camera still down');
    this.downSince = this.opts.clock.monotonic();
    const kind = reason.code === 'E_CAMERA_STALLED' ? 'camera_stalled' : 'camera_disconnected';
    this.opts.log.warn({ code: reason.code, reason: reason.message }, kind === 'camera_stalled' ? 'camera stalled; reconnecting' : 'camera connection lost; reconnecting');
    recordEvent(this.opts.events, this.opts.log, { level: 'warn', kind, source: this.opts.id, message: reason.message, detail: { code: reason.code } });
  }
}
