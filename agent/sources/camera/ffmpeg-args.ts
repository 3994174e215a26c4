import type { RtspSourceConfig, UsbSourceConfig, VideoSourceConfig } from '../../config/schema.js';

/** An ffmpeg command line, and the same with secrets replaced for logs. */
export interface FfmpegCommand {
  args: string[];
  shown: string[];
}

/** Where a camera's pictures come from, as ffmpeg input options. */
function input(config: RtspSourceConfig | UsbSourceConfig | VideoSourceConfig, password: string | undefined, resolvePath: (p: string) => string): { args: string[]; shown: string[] } {
  switch (config.type) {
    case 'rtsp': {
      const pre = ['-rtsp_transport', config.transport, '-i'];
      if (!config.auth) return { args: [...pre, config.url], shown: [...pre, config.url] };
      // ffmpeg takes RTSP credentials only in the URL; it answers Digest or Basic itself.
      const u = new URL(config.url);
      u.username = encodeURIComponent(config.auth.username);
      const shown = `${u.toString().replace('@', ':[redacted]@')}`;
      u.password = encodeURIComponent(password ?? '');
      return { args: [...pre, u.toString()], shown: [...pre, shown] };
    }
    case 'usb': {
      const args = ['-f', 'v4l2'];
      if (config.inputFormat) args.push('-input_format', config.inputFormat);
      if (config.width !== undefined && config.height !== undefined) args.push('-video_size', `${config.width}x${config.height}`);
      if (config.fps !== undefined) args.push('-framerate', String(config.fps));
      args.push('-i', config.device);
      return { args, shown: args };
    }
    case 'video': {
      const args = [...(config.realtime ? ['-re'] : []), ...(config.loop ? ['-stream_loop', '-1'] : []), '-i', resolvePath(config.path)];
      return { args, shown: args };
    }
  }
}

/**
 * ffmpeg reading one camera and writing each picture as a JPEG to stdout (image2pipe).
 * The frame-rate cap runs in ffmpeg too (`fps` filter), so frames that would be skipped
 * are never encoded; the agent still enforces it on what arrives.
 */
export function ffmpegCommand(config: RtspSourceConfig | UsbSourceConfig | VideoSourceConfig, password: string | undefined, resolvePath: (p: string) => string): FfmpegCommand {
  const head = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  const tail = [
    '-an',
    ...(config.maxFps && config.mode === 'free' ? ['-vf', `fps=${config.maxFps}`] : []),
    '-f', 'image2pipe',
    '-c:v', 'mjpeg',
    // Full-range JPEG, as cameras and sharp expect; ffmpeg's default would warn and pick limited range.
    '-pix_fmt', 'yuvj420p',
    '-q:v', String(config.quality),
    'pipe:1',
  ];
  const src = input(config, password, resolvePath);
  return { args: [...head, ...src.args, ...tail], shown: [...head, ...src.shown, ...tail] };
}
