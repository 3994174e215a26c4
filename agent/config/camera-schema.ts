import { z } from 'zod';

/*
 * Network and ffmpeg cameras: HTTP snapshots, MJPEG over HTTP, RTSP, USB (V4L2) and a
 * recorded video replayed as a camera. Defaults live here, like everywhere in the config.
 */

const positiveMs = z.number().int().positive();

/** What the camera's own credentials are; the password from the environment overlay or a file, never in the URL. */
export const CameraAuthSchema = z
  .strictObject({
    /** `digest` never sends the password; `basic` sends it with every request (use https). */
    scheme: z.enum(['basic', 'digest']).default('digest'),
    username: z.string().min(1),
    /** Best set as EDGE_AGENT__SOURCES__<i>__AUTH__PASSWORD; shown as [redacted]. */
    password: z.string().optional(),
    /** A file holding the password (trailing newline ignored), relative to the config file. */
    passwordFile: z.string().min(1).optional(),
  })
  .refine((a) => !(a.password !== undefined && a.passwordFile !== undefined), { message: 'give password or passwordFile, not both', path: ['passwordFile'] })
  .refine((a) => a.password !== undefined || a.passwordFile !== undefined, { message: 'give password (or its environment override) or passwordFile', path: ['password'] });
export type CameraAuth = z.infer<typeof CameraAuthSchema>;

const RoiSchema = z.strictObject({
  left: z.number().int().nonnegative(),
  top: z.number().int().nonnegative(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});

/** Keys every network or ffmpeg camera has. */
export const cameraCommon = {
  /** At most this many frames per second reach the models; extra frames are skipped at the source. Every frame when absent. */
  maxFps: z.number().positive().max(1000).optional(),
  /** Region of interest in the camera's pixels, cut before rotation; the whole picture when absent. */
  roi: RoiSchema.optional(),
  /** Clockwise, applied after the crop: for a camera mounted on its side or upside down. */
  rotate: z.literal([0, 90, 180, 270], { error: 'one of 0, 90, 180, 270 (degrees clockwise)' }).default(0),
  /**
   * `free`: every frame (up to maxFps). `triggered`: one frame per trigger, from an OPC-UA tag edge
   * (opcua.triggers) or an MQTT command (`<topicPrefix>/<deviceId>/cmd/capture`).
   */
  mode: z.enum(['free', 'triggered']).default('free'),
  /** No frame from the camera for this long: the connection is dropped and made again. */
  stallTimeoutMs: positiveMs.default(10_000),
  /** Jittered exponential backoff between reconnects. */
  reconnect: z.strictObject({ minMs: positiveMs.default(500), maxMs: positiveMs.default(30_000) }).prefault({}),
  /** A frame larger than this is refused; bounds the memory one camera can take. */
  maxBytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(32 * 1024 * 1024),
};

const httpUrl = z
  .string()
  .regex(/^https?:\/\/[^/\s]+/, 'an http:// or https:// URL')
  .refine((u) => !/^https?:\/\/[^/@\s]*@/.test(u), 'no credentials in the URL (they would show in logs): use auth');

const httpCommon = {
  url: httpUrl,
  auth: CameraAuthSchema.optional(),
  /** Connect, and each response (snapshot) or gap in the stream's first bytes (MJPEG). */
  timeoutMs: positiveMs.default(5000),
  /** https: a PEM file of the camera's CA (cameras often have self-signed certificates). */
  ca: z.string().min(1).optional(),
  rejectUnauthorized: z.boolean().default(true),
};

/** Keys of `type: snapshot` besides id and models: one JPEG per HTTP request. */
export const snapshotShape = {
  type: z.literal('snapshot'),
  ...httpCommon,
  ...cameraCommon,
  /** Free-running: one request per interval at most (the camera's rate limit). Triggered: the shortest gap between two requests. */
  intervalMs: positiveMs.default(1000),
};

/** `type: mjpeg`: a multipart/x-mixed-replace stream of JPEGs. */
export const mjpegShape = {
  type: z.literal('mjpeg'),
  ...httpCommon,
  ...cameraCommon,
};

const ffmpegCommon = {
  /** The ffmpeg binary (Debian: apt-get install ffmpeg). */
  ffmpeg: z.string().min(1).default('ffmpeg'),
  /** JPEG quality of the frames ffmpeg hands over: 2 (best) … 31. */
  quality: z.number().int().min(2).max(31).default(3),
};

/** `type: rtsp`: an IP camera's RTSP stream, decoded by an ffmpeg child process. */
export const rtspShape = {
  type: z.literal('rtsp'),
  url: z
    .string()
    .regex(/^rtsps?:\/\/[^/\s]+/, 'an rtsp:// or rtsps:// URL')
    .refine((u) => !/^rtsps?:\/\/[^/@\s]*@/.test(u), 'no credentials in the URL (they would show in logs): use auth'),
  /** RTSP credentials; ffmpeg answers Digest or Basic as the camera asks. */
  auth: CameraAuthSchema.optional(),
  /** `tcp` survives NAT and lossy links; `udp` has lower latency on a clean LAN. */
  transport: z.enum(['tcp', 'udp']).default('tcp'),
  ...ffmpegCommon,
  ...cameraCommon,
};

/** `type: usb`: a USB (UVC) camera through V4L2, read by ffmpeg. */
export const usbShape = {
  type: z.literal('usb'),
  device: z.string().regex(/^\/dev\/\S+$/, 'a device path such as /dev/video0').default('/dev/video0'),
  /** Asked of the camera (v4l2 video_size, framerate, input_format); the camera's default when absent. */
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
  fps: z.number().positive().max(1000).optional(),
  inputFormat: z.enum(['mjpeg', 'yuyv422', 'nv12', 'rgb24']).optional(),
  ...ffmpegCommon,
  ...cameraCommon,
};

/** width and height of a USB camera go together. */
export function usbSizeCheck(u: { width?: number | undefined; height?: number | undefined }): boolean {
  return (u.width === undefined) === (u.height === undefined);
}

/** `type: video`: a recorded video (or MJPEG file) replayed as a camera, through the same ffmpeg path. */
export const videoShape = {
  type: z.literal('video'),
  /** Relative to the config file. */
  path: z.string().min(1),
  /** Start again at the end; otherwise the camera ends (and shows as stalled). */
  loop: z.boolean().default(true),
  /** At the file's own frame rate; false reads as fast as ffmpeg decodes (maxFps still applies). */
  realtime: z.boolean().default(true),
  ...ffmpegCommon,
  ...cameraCommon,
};
