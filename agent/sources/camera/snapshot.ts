import type { SnapshotSourceConfig } from '../../config/schema.js';
import { AgentError, errorMessage } from '../../errors.js';
import type { Component } from '../../lifecycle/component.js';
import { Backoff, sleep } from '../../lifecycle/backoff.js';
import { Doorbell } from '../../sync/doorbell.js';
import { type CameraHttp, cameraHttp } from './camera-http.js';
import { CameraOutput } from './camera-output.js';
import { recordEvent } from './folder-filing.js';
import { JpegFramer } from './jpeg-framer.js';
import type { CameraSourceOptions } from './mjpeg.js';
import type { CaptureRequest, CaptureTarget } from './trigger.js';

/**
 * An IP camera's snapshot URL, polled: free-running, one request per `intervalMs` at most
 * (the camera's rate limit, whatever the pipeline does); triggered, one request per
 * trigger, `intervalMs` apart at least. A failed request (refused, timed out, cut off)
 * is retried after a jittered backoff that starts over with the next picture.
 */
export class SnapshotSource implements Component, CaptureTarget {
  readonly name: string;
  private readonly output: CameraOutput;
  private readonly http: CameraHttp;
  private readonly backoff: Backoff;
  private readonly bell = new Doorbell();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private downSince: number | undefined;
  /** Requests sent, for tests and the log. */
  requests = 0;

  constructor(private readonly opts: CameraSourceOptions<SnapshotSourceConfig>) {
    this.name = `camera:${opts.config.id}`;
    this.output = new CameraOutput({ ...opts });
    this.http = cameraHttp(opts.config, opts.resolvePath);
    this.backoff = new Backoff({ ...opts.config.reconnect, minMs: Math.max(opts.config.reconnect.minMs, opts.config.intervalMs) });
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.loop || this.stopping.signal.aborted) return;
    signal.addEventListener('abort', () => this.stopping.abort(), { once: true });
    this.loop = this.run();
    this.opts.log.info({ camera: this.http.describe(), mode: this.opts.config.mode }, 'snapshot camera started');
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  capture(request: CaptureRequest): void {
    if (this.output.trigger(request)) this.bell.ring();
  }

  private async run(): Promise<void> {
    const stop = this.stopping.signal;
    const { clock, config } = this.opts;
    while (!stop.aborted) {
      if (this.output.triggered) {
        const rung = this.bell.count;
        if (this.output.pendingTriggers === 0 && !(await this.bell.wait(rung, undefined, stop))) return;
      }
      const started = clock.monotonic();
      const failure = await this.takeOne(stop);
      if (stop.aborted) return;
      if (failure) {
        this.wentDown(failure);
        await sleep(this.backoff.next(), stop);
        continue;
      }
      this.cameBack();
      await sleep(Math.max(0, config.intervalMs - (clock.monotonic() - started)), stop);
    }
  }

  /** One request; undefined when it brought a picture (good or refused), else why it failed. */
  private async takeOne(stop: AbortSignal): Promise<AgentError | undefined> {
    const { config } = this.opts;
    const request = new AbortController();
    const abort = () => request.abort();
    stop.addEventListener('abort', abort, { once: true });
    // The response timeout covers the headers; this covers the body of a camera that stops mid-picture.
    const timer = setTimeout(abort, config.timeoutMs * 2);
    this.requests++;
    let received = 0;
    try {
      const res = await this.http.get(request.signal);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          if (received > config.maxBytes) {
            res.body.destroy();
            this.output.refuse('E_FRAME_TOO_LARGE', `snapshot larger than ${config.maxBytes} bytes`, received);
            return undefined;
          }
          chunks.push(chunk as Buffer);
        }
      } catch (err) {
        if (received === 0) throw err;
        // Bytes came, then the connection broke: the picture is cut short.
        this.output.refuse('E_FRAME_TRUNCATED', `snapshot cut off after ${received} bytes: ${errorMessage(err)}`, received);
        return undefined;
      }
      this.picture(Buffer.concat(chunks, received));
      return undefined;
    } catch (err) {
      if (stop.aborted) return undefined;
      if (request.signal.aborted) return new AgentError('E_CAMERA_TIMEOUT', `${this.http.describe()}: no whole picture within ${config.timeoutMs * 2} ms`, { retryable: true });
      return err instanceof AgentError ? err : new AgentError('E_CAMERA_HTTP', `${this.http.describe()}: ${errorMessage(err)}`, { retryable: true, cause: err });
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', abort);
    }
  }

  /** A JPEG must be whole (the framer walks its markers); other formats are the decoder's to judge. */
  private picture(body: Buffer): void {
    if (body.length > 2 && body[0] === 0xff && body[1] === 0xd8) {
      const framer = new JpegFramer(this.opts.config.maxBytes);
      const out = framer.push(body);
      const first = out[0];
      if (!first || first.kind === 'refused') {
        const why = first?.kind === 'refused' ? first.reason.replace('_', ' ') : 'truncated (no end marker)';
        return this.output.refuse(first?.kind === 'refused' && first.reason === 'corrupt' ? 'E_FRAME_CORRUPT' : 'E_FRAME_TRUNCATED', `snapshot JPEG ${why} (${body.length} bytes)`, body.length);
      }
      return this.output.frame(first.data);
    }
    this.output.frame(body);
  }

  private cameBack(): void {
    this.backoff.reset();
    if (this.downSince === undefined) return;
    const downMs = Math.round(this.opts.clock.monotonic() - this.downSince);
    this.downSince = undefined;
    this.opts.log.info({ downMs }, 'camera resumed');
    recordEvent(this.opts.events, this.opts.log, { level: 'info', kind: 'camera_resumed', source: this.opts.config.id, message: `${this.opts.config.id}: pictures again after ${downMs} ms`, detail: { downMs } });
  }

  private wentDown(reason: AgentError): void {
    if (this.downSince !== undefined) return void this.opts.log.debug({ reason: reason.message }, 'camera still unreachable');
    this.downSince = this.opts.clock.monotonic();
    this.opts.log.warn({ code: reason.code, reason: reason.message }, 'snapshot failed; retrying with backoff');
    recordEvent(this.opts.events, this.opts.log, { level: 'warn', kind: 'camera_unreachable', source: this.opts.config.id, message: reason.message, detail: { code: reason.code } });
  }
}
