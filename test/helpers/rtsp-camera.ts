import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const SCRIPT = new URL('./rtsp-server.py', import.meta.url).pathname;
/** Debian's Python, where python3-gi and the GStreamer RTSP server bindings are installed. */
const PYTHON = '/usr/bin/python3';

/** Why the RTSP camera cannot run here, or undefined when it can. */
export async function rtspCameraMissing(): Promise<string | undefined> {
  try {
    await promisify(execFile)(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"]);
    return undefined;
  } catch {
    return 'the GStreamer RTSP server is not installed (Debian: apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good)';
  }
}

/** An RTSP camera (GStreamer's RTSP server in a child process) on 127.0.0.1, stoppable and restartable on its port. */
export class RtspCamera {
  private child: ChildProcess | undefined;
  port = 0;

  constructor(private readonly credentials?: { username: string; password: string }) {}

  get url(): string {
    return `rtsp://127.0.0.1:${this.port}/line`;
  }

  async start(): Promise<void> {
    const args = [SCRIPT, String(this.port), ...(this.credentials ? [this.credentials.username, this.credentials.password] : [])];
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(`the RTSP server to listen (${out})`, () => /^port \d+/m.test(out) || child.exitCode !== null, 15_000);
    const m = /^port (\d+)/m.exec(out);
    if (!m) throw new Error(`the RTSP server did not start: ${out}`);
    this.port = Number(m[1]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
