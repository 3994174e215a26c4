import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError, loadConfig } from '../../agent/config/load.js';
import { redact } from '../../agent/config/redact.js';

const dir = mkdtempSync(join(tmpdir(), 'camera-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, sources: string): string {
  const p = join(dir, name);
  writeFileSync(
    p,
    `deviceId: gw1
sources:
${sources}
models:
  - name: defect
    path: m.onnx
    preprocess: { width: 64, height: 64 }
broker:
  url: mqtt://127.0.0.1:1883
`,
  );
  return p;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the config to be refused');
}

test('every camera kind parses with its defaults', () => {
  const { config } = loadConfig(
    configFile(
      'ok.yaml',
      `  - { id: snap, type: snapshot, url: "http://10.0.0.7/snap.jpg", auth: { username: op, passwordFile: cam.pw } }
  - { id: mj, type: mjpeg, url: "https://10.0.0.8/video.mjpg", maxFps: 5, roi: { left: 0, top: 10, width: 640, height: 400 }, rotate: 270 }
  - { id: rt, type: rtsp, url: "rtsp://10.0.0.9:554/stream1", mode: triggered }
  - { id: usb, type: usb, width: 1280, height: 720 }
  - { id: rec, type: video, path: line.mp4 }`,
    ),
    {},
  );
  const [snap, mj, rt, usb, rec] = config.sources;
  assert.ok(snap?.type === 'snapshot' && snap.intervalMs === 1000 && snap.timeoutMs === 5000 && snap.auth?.scheme === 'digest' && snap.mode === 'free');
  assert.ok(mj?.type === 'mjpeg' && mj.stallTimeoutMs === 10_000 && mj.reconnect.minMs === 500 && mj.rotate === 270 && mj.rejectUnauthorized);
  assert.ok(rt?.type === 'rtsp' && rt.transport === 'tcp' && rt.ffmpeg === 'ffmpeg' && rt.mode === 'triggered');
  assert.ok(usb?.type === 'usb' && usb.device === '/dev/video0');
  assert.ok(rec?.type === 'video' && rec.loop && rec.realtime);
});

test('camera mistakes are named by path and reason, all at once', () => {
  const problems = problemsOf(() =>
    loadConfig(
      configFile(
        'bad.yaml',
        `  - { id: a, type: snapshot, url: "http://admin:hunter2@10.0.0.7/snap.jpg" }
  - { id: b, type: mjpeg, url: "ftp://cam/x", rotate: 45, auth: { username: op } }
  - { id: c, type: rtsp, url: "rtsp://10.0.0.9/s", transport: quic }
  - { id: d, type: usb, width: 640 }
  - { id: e, type: snapshot, url: "http://cam/s.jpg", auth: { username: op, password: x, passwordFile: p }, fps: 3 }
  - { id: f, type: webcam }`,
      ),
      {},
    ),
  );
  const text = problems.join('\n');
  for (const expected of [
    /sources\.0\.url: no credentials in the URL \(they would show in logs\): use auth/,
    /sources\.1\.url: an http:\/\/ or https:\/\/ URL/,
    /sources\.1\.rotate: one of 0, 90, 180, 270 \(degrees clockwise\)/,
    /sources\.1\.auth\.password: give password \(or its environment override\) or passwordFile/,
    /sources\.2\.transport: Invalid option: expected one of "tcp"\|"udp"/,
    /sources\.3\.height: give width and height together/,
    /sources\.4\.auth\.passwordFile: give password or passwordFile, not both/,
    /sources\.4: unknown key "fps"/,
    /sources\.5\.type: .*'snapshot' \| 'mjpeg' \| 'rtsp' \| 'usb' \| 'video'/,
  ]) {
    assert.match(text, expected);
  }
});

test('a camera password from the environment overlay is used and never shown', () => {
  const { config } = loadConfig(configFile('env.yaml', `  - { id: snap, type: snapshot, url: "http://10.0.0.7/snap.jpg", auth: { scheme: basic, username: op } }`), {
    EDGE_AGENT__SOURCES__0__AUTH__PASSWORD: 'from-env-Secret',
  });
  const src = config.sources[0];
  assert.ok(src?.type === 'snapshot' && src.auth?.password === 'from-env-Secret');
  assert.ok(!JSON.stringify(redact(config)).includes('from-env-Secret'));
});

test('OPC-UA triggers accept any camera in triggered mode', () => {
  const p = join(dir, 'trig.yaml');
  writeFileSync(
    p,
    `deviceId: gw1
sources:
  - { id: station, type: mjpeg, url: "http://cam/v.mjpg", mode: triggered }
  - { id: overview, type: mjpeg, url: "http://cam/v.mjpg" }
models:
  - { name: defect, path: m.onnx, preprocess: { width: 64, height: 64 } }
broker: { url: "mqtt://127.0.0.1:1883" }
opcua:
  servers: [{ id: plc, endpoint: "opc.tcp://plc:4840", tags: [{ name: present, nodeId: "ns=2;s=Present" }] }]
  triggers:
    - { tag: present, camera: station }
    - { tag: present, camera: overview }
`,
  );
  assert.deepEqual(problemsOf(() => loadConfig(p, {})), ['opcua.triggers.1.camera: source "overview" is not a triggered camera (mode: triggered)']);
});
