import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import type { MjpegSourceConfig } from '../../config/schema.js';
import type { Counters } from '../../counters.js';
import type { EventSink } from '../../events.js';
import type { FrameQueue } from '../../pipeline/frame-queue.js';
import { cameraHttp } from './camera-http.js';
import { CameraOutput } from './camera-output.js';
import { StreamCamera } from './stream-camera.js';

export interface CameraSourceOptions<C> {
  config: C;
  queue: FrameQueue;
  counters: Counters;
  events: EventSink;
  clock: Clock;
  log: Logger;
  /** Resolves a path from the config (password file, CA) against the config file's folder. */
  resolvePath: (path: string) => string;
}

/**
 * An IP camera's MJPEG stream (multipart/x-mixed-replace over HTTP). The parts' headers
 * and boundaries are not trusted: frames are cut by their JPEG markers, so a missing or
 * wrong Content-Length and garbage between parts cost nothing but the garbage.
 */
export function mjpegSource(opts: CameraSourceOptions<MjpegSourceConfig>): StreamCamera {
  const { config, log } = opts;
  const http = cameraHttp(config, opts.resolvePath);
  const output = new CameraOutput({ ...opts, config });
  let warnedType = false;
  return new StreamCamera({
    id: config.id,
    target: `MJPEG ${http.describe()}`,
    stallTimeoutMs: config.stallTimeoutMs,
    // The headers may take up to the request timeout; got enforces that one.
    firstFrameGraceMs: config.timeoutMs,
    reconnect: config.reconnect,
    maxBytes: config.maxBytes,
    output,
    events: opts.events,
    clock: opts.clock,
    log,
    open: async function* (signal) {
      const res = await http.get(signal);
      const type = String(res.headers['content-type'] ?? '');
      if (!/^multipart\//i.test(type) && !warnedType) {
        // Some cameras label the stream wrongly; the JPEG markers still find the frames.
        warnedType = true;
        log.warn({ contentType: type }, 'MJPEG stream is not labelled multipart; reading it anyway');
      }
      try {
        for await (const chunk of res.body) yield chunk as Buffer;
      } finally {
        res.body.destroy();
      }
    },
  });
}
