import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Clock } from '../../agent/clock.js';
import { ConfigSchema, type RtspSourceConfig, type UsbSourceConfig, type VideoSourceConfig } from '../../agent/config/schema.js';
import { Counters } from '../../agent/counters.js';
import type { AgentEvent } from '../../agent/events.js';
import type { Frame } from '../../agent/frame.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { viewOf } from '../../agent/preprocess/frame-view.js';
import { CameraOutput, type CameraDelivery } from '../../agent/sources/camera/camera-output.js';
import { ffmpegCommand } from '../../agent/sources/camera/ffmpeg-args.js';

const log = pino({ level: 'silent' });
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 2, 0xff, 0xd9]);

function source<T>(entry: Record<string, unknown>): T {
  const cfg = ConfigSchema.parse({ deviceId: 'gw', sources: [{ id: 'cam', ...entry }], models: [{ name: 'm', path: 'm.onnx', preprocess: { width: 8, height: 8 } }], broker: { url: 'mqtt://h' } });
  return cfg.sources[0] as T;
}

test('RTSP: credentials go into the URL ffmpeg gets, never into the command shown', () => {
  const cfg = source<RtspSourceConfig>({ type: 'rtsp', url: 'rtsp://10.0.0.9:554/Streaming/Channels/101', auth: { username: 'op', password: 'p@ss:w/rd' }, transport: 'udp', maxFps: 4 });
  const cmd = ffmpegCommand(cfg, 'p@ss:w/rd', (p) => p);
  const input = cmd.args[cmd.args.indexOf('-i') + 1]!;
  assert.equal(input, 'rtsp://op:p%40ss%3Aw%2Frd@10.0.0.9:554/Streaming/Channels/101');
  assert.deepEqual(cmd.args.slice(cmd.args.indexOf('-rtsp_transport'), cmd.args.indexOf('-rtsp_transport') + 2), ['-rtsp_transport', 'udp']);
  assert.ok(!cmd.shown.join(' ').includes('p%40ss') && !cmd.shown.join(' ').includes('p@ss'));
  assert.match(cmd.shown.join(' '), /rtsp:\/\/op:\[redacted\]@10\.0\.0\.9:554/);
  assert.deepEqual(cmd.args.slice(-10), ['-an', '-vf', 'fps=4', '-f', 'image2pipe', '-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p', '-q:v', '3', 'pipe:1'].slice(-10));
});

test('USB: V4L2 options only when configured; a triggered camera is not thinned in ffmpeg', () => {
  const bare = ffmpegCommand(source<UsbSourceConfig>({ type: 'usb' }), undefined, (p) => p);
  assert.deepEqual(bare.args.slice(4, 8), ['-f', 'v4l2', '-i', '/dev/video0']);
  const full = ffmpegCommand(source<UsbSourceConfig>({ type: 'usb', device: '/dev/video2', width: 1280, height: 720, fps: 30, inputFormat: 'mjpeg', maxFps: 5, mode: 'triggered' }), undefined, (p) => p);
  assert.deepEqual(full.args.slice(4, 14), ['-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '30', '-i', '/dev/video2']);
  assert.ok(!full.args.includes('-vf'), 'every frame of a triggered camera may be the one a trigger wants');
});

test('video: realtime and looping by default, the path resolved against the config folder', () => {
  const cmd = ffmpegCommand(source<VideoSourceConfig>({ type: 'video', path: 'rec/line.mp4' }), undefined, (p) => `/etc/edge/${p}`);
  assert.deepEqual(cmd.args.slice(4, 9), ['-re', '-stream_loop', '-1', '-i', '/etc/edge/rec/line.mp4']);
  const once = ffmpegCommand(source<VideoSourceConfig>({ type: 'video', path: '/data/a.mjpeg', loop: false, realtime: false }), undefined, (p) => p);
  assert.deepEqual(once.args.slice(4, 6), ['-i', '/data/a.mjpeg']);
});

/** A clock the test moves by hand. */
function manualClock(): Clock & { advance(ms: number): void } {
  let mono = 1000;
  return { now: () => 1_700_000_000_000 + mono, monotonic: () => mono, advance: (ms) => void (mono += ms) };
}

function output(config: Partial<CameraDelivery>) {
  const clock = manualClock();
  const counters = new Counters();
  const events: AgentEvent[] = [];
  const queue = new FrameQueue(1000);
  const out = new CameraOutput({ config: { id: 'cam', mode: 'free', rotate: 0, ...config }, queue, counters, events: { record: (e) => events.push(e) }, clock, log });
  const taken: Frame[] = [];
  const drain = async () => {
    while (queue.size > 0) taken.push((await queue.take())!);
    return taken;
  };
  return { out, clock, counters, events, drain };
}

test('the frame-rate cap lets through one frame per period, with slack for jitter', async () => {
  const o = output({ maxFps: 10 });
  // 30 frames/s for one second, each a little early or late.
  for (let i = 0; i < 30; i++) {
    o.out.frame(Buffer.from(JPEG));
    o.clock.advance(33.3 + (i % 2 ? 3 : -3));
  }
  const frames = await o.drain();
  assert.equal(frames.length, 10);
  assert.equal(o.out.skipped, 20);
  assert.equal(o.counters.framesIn, 10);
});

test('a camera at exactly the cap is not halved by jitter', async () => {
  const o = output({ maxFps: 10 });
  for (let i = 0; i < 20; i++) {
    o.out.frame(Buffer.from(JPEG));
    o.clock.advance(i % 2 ? 102 : 98);
  }
  assert.equal((await o.drain()).length, 20);
});

test('triggered: one frame per trigger, carrying its part id; frames between triggers are skipped', async () => {
  const o = output({ mode: 'triggered', maxFps: 1 });
  o.out.frame(Buffer.from(JPEG));
  o.out.trigger({ ts: 1, partId: 'A' });
  o.out.trigger({ ts: 2, partId: 'B' });
  o.out.frame(Buffer.from(JPEG));
  o.out.frame(Buffer.from(JPEG));
  o.out.frame(Buffer.from(JPEG));
  const frames = await o.drain();
  assert.deepEqual(frames.map((f) => f.partId), ['A', 'B'], 'the cap does not hold back triggered frames');
  assert.equal(o.out.skipped, 2);
});

test('refusals are counted one by one, audited at most once per ten seconds with the count', () => {
  const o = output({});
  o.out.frame(Buffer.alloc(0));
  o.out.frame(Buffer.from('<html>'));
  o.out.refuse('E_FRAME_TRUNCATED', 'truncated frame', 100);
  assert.equal(o.counters.rejected, 3);
  assert.equal(o.events.length, 1);
  assert.equal(o.events[0]!.detail!.code, 'E_FRAME_EMPTY');
  o.clock.advance(10_000);
  o.out.refuse('E_FRAME_CORRUPT', 'corrupt frame', 100);
  assert.equal(o.events.length, 2);
  assert.equal(o.events[1]!.detail!.refusedSinceLastEvent, 3);
  assert.match(o.events[1]!.message, /cam: corrupt frame/);
});

test('a decoder refusal of a delivered frame is counted too; frames carry the camera view', async () => {
  const o = output({ roi: { left: 1, top: 2, width: 3, height: 4 }, rotate: 90 });
  o.out.frame(Buffer.from(JPEG));
  const [frame] = await o.drain();
  assert.deepEqual(viewOf(frame!.data), { crop: { left: 1, top: 2, width: 3, height: 4 }, rotate: 90 });
  frame!.settle({ ok: false, code: 'E_IMAGE_DECODE', reason: 'corrupt JPEG data' });
  assert.equal(o.counters.rejected, 1);
  const ok = output({});
  ok.out.frame(Buffer.from(JPEG));
  const [plain] = await ok.drain();
  assert.equal(viewOf(plain!.data), undefined, 'no view, no mark');
  plain!.settle({ ok: false, code: 'E_STOPPING', reason: 'agent is stopping' });
  assert.equal(ok.counters.rejected, 0, 'a stop is not the frame’s fault');
});
