import { spawn } from 'node:child_process';
import type { RtspSourceConfig, UsbSourceConfig, VideoSourceConfig } from '../../config/schema.js';
import { AgentError } from '../../errors.js';
import { cameraPassword } from './camera-http.js';
import { CameraOutput } from './camera-output.js';
import { ffmpegCommand } from './ffmpeg-args.js';
import type { CameraSourceOptions } from './mjpeg.js';
import { StreamCamera } from './stream-camera.js';

/** ffmpeg gets this long to exit after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

/** ffmpeg probes a stream for up to 5 s (its analyzeduration) before the first frame. */
const FIRST_FRAME_GRACE_MS = 5000;

/** Last bytes of ffmpeg's stderr kept for the reason a run ended. */
const STDERR_TAIL = 2048;

/**
 * An RTSP camera, a USB (V4L2) camera or a recorded video, through an ffmpeg child
 * process that writes JPEGs to a pipe. ffmpeg exiting, failing or going quiet is a
 * camera outage like any other: the process is killed and started again with backoff.
 */
export function ffmpegSource(opts: CameraSourceOptions<RtspSourceConfig | UsbSourceConfig | VideoSourceConfig>): StreamCamera {
  const { config, log } = opts;
  const password = 'auth' in config && config.auth ? cameraPassword(config.auth, opts.resolvePath) : undefined;
  const command = ffmpegCommand(config, password, opts.resolvePath);
  const target = `${config.type} ${command.shown[command.shown.indexOf('-i') + 1]}`;
  const hide = (text: string) => (password ? text.split(password).join('[redacted]').split(encodeURIComponent(password)).join('[redacted]') : text);
  log.debug({ ffmpeg: config.ffmpeg, args: command.shown }, 'ffmpeg command');
  return new StreamCamera({
    id: config.id,
    target,
    stallTimeoutMs: config.stallTimeoutMs,
    firstFrameGraceMs: FIRST_FRAME_GRACE_MS,
    reconnect: config.reconnect,
    maxBytes: config.maxBytes,
    output: new CameraOutput({ ...opts, config }),
    events: opts.events,
    clock: opts.clock,
    log,
    open: async function* (signal) {
      const child = spawn(config.ffmpeg, command.args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => (stderr = (stderr + text).slice(-STDERR_TAIL)));
      let spawnError: Error | undefined;
      child.once('error', (err) => (spawnError = err));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, sig) => resolve({ code, signal: sig })));
      let killTimer: NodeJS.Timeout | undefined;
      const kill = () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      };
      signal.addEventListener('abort', kill, { once: true });
      try {
        for await (const chunk of child.stdout) yield chunk as Buffer;
        const end = await exited;
        if (signal.aborted) return;
        if (spawnError) throw new AgentError('E_FFMPEG', `cannot start ${config.ffmpeg}: ${spawnError.message} (Debian: apt-get install ffmpeg)`, { retryable: true });
        const why = hide(stderr.trim().split('\n').slice(-3).join(' | '));
        throw new AgentError('E_FFMPEG', `${target}: ffmpeg exited (${end.signal ?? `code ${end.code}`})${why ? `: ${why}` : ''}`, { retryable: true });
      } finally {
        signal.removeEventListener('abort', kill);
        kill();
        await exited;
        clearTimeout(killTimer);
      }
    },
  });
}
