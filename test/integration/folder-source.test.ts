import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import sharp from 'sharp';
import { FolderSourceSchema, type FolderSourceConfig } from '../../agent/config/schema.js';
import { Counters } from '../../agent/counters.js';
import type { AgentEvent, EventSink } from '../../agent/events.js';
import type { Frame } from '../../agent/frame.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { FolderRejectCode, FolderSource } from '../../agent/sources/camera/folder.js';

const log = pino({ level: 'silent' });

function jpeg(shade = 0x88): Promise<Buffer> {
  const grey = shade.toString(16).padStart(2, '0');
  return sharp({ create: { width: 64, height: 48, channels: 3, background: `#${grey}${grey}${grey}` } }).jpeg().toBuffer();
}

/** Noise compresses badly, so cutting the file lands in the scan data, not the header. */
function noisyJpeg(side = 200): Promise<Buffer> {
  const pixels = Buffer.alloc(side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  return sharp(pixels, { raw: { width: side, height: side, channels: 3 } }).jpeg().toBuffer();
}

class MemoryEvents implements EventSink {
  readonly events: AgentEvent[] = [];
  record(event: AgentEvent): void {
    this.events.push(event);
  }
}

/** Stands in for the pipeline: decodes like the preprocessor would and settles. */
function consume(queue: FrameQueue, delayMs = 0): { frames: Frame[]; finished: Promise<void> } {
  const frames: Frame[] = [];
  const finished = (async () => {
    for (;;) {
      const frame = await queue.take();
      if (!frame) return;
      frames.push(frame);
      if (delayMs) await sleep(delayMs);
      try {
        await sharp(frame.data, { failOn: 'truncated' }).raw().toBuffer();
        frame.settle({ ok: true });
      } catch (err) {
        frame.settle({ ok: false, code: 'E_DECODE', reason: `cannot decode: ${(err as Error).message.split('\n')[0]}` });
      }
    }
  })();
  return { frames, finished };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name).sort();
}

interface Rig {
  dir: string;
  config: FolderSourceConfig;
  queue: FrameQueue;
  counters: Counters;
  events: MemoryEvents;
  source: FolderSource;
  frames: Frame[];
  finished: Promise<void>;
}

async function rig(t: TestContext, overrides: Partial<FolderSourceConfig> = {}, opts: { capacity?: number; delayMs?: number } = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'folder-source-'));
  const config = FolderSourceSchema.parse({ id: 'cam1', type: 'folder', path: dir, stableMs: 40, pollMs: 10, ...overrides });
  const queue = new FrameQueue(opts.capacity ?? 4);
  const counters = new Counters();
  const events = new MemoryEvents();
  const source = new FolderSource({ config, queue, events, counters, log });
  const { frames, finished } = consume(queue, opts.delayMs);
  t.after(async () => {
    await source.stop();
    queue.close();
    await finished;
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, config, queue, counters, events, source, frames, finished };
}

function start(source: FolderSource): Promise<void> {
  return source.start(new AbortController().signal);
}

function ids(frames: Frame[]): string[] {
  return frames.map((f) => f.id).sort();
}

test('good files are handed over oldest first, once, and moved to done/ without overwriting', async (t) => {
  const r = await rig(t);
  const a = await jpeg(0x10);
  const b = await sharp(a).png().toBuffer();
  const c = await jpeg(0x30);
  await writeFile(join(r.dir, 'a.jpg'), a);
  await writeFile(join(r.dir, 'b.png'), b);
  await writeFile(join(r.dir, 'C.JPG'), c);
  await utimes(join(r.dir, 'b.png'), 1000, 1000);
  await utimes(join(r.dir, 'C.JPG'), 2000, 2000);
  await utimes(join(r.dir, 'a.jpg'), 3000, 3000);
  for (const temp of ['.hidden.jpg', 'x.jpg.part', 'y.tmp', 'z.jpg~', 'w.jpg.crdownload']) await writeFile(join(r.dir, temp), a);
  await mkdir(join(r.dir, 'done'));
  await writeFile(join(r.dir, 'done', 'a.jpg'), 'an earlier frame of the same name');

  await start(r.source);
  await waitFor('three files in done/', async () => (await files(join(r.dir, 'done'))).length === 4);

  assert.deepEqual(r.frames.map((f) => f.id), ['b.png', 'C.JPG', 'a.jpg']);
  assert.deepEqual(await files(join(r.dir, 'done')), ['C.JPG', 'a-1.jpg', 'a.jpg', 'b.png']);
  assert.equal(await readFile(join(r.dir, 'done', 'a.jpg'), 'utf8'), 'an earlier frame of the same name');
  assert.deepEqual(await readFile(join(r.dir, 'done', 'a-1.jpg')), a);
  const first = r.frames[0]!;
  assert.equal(first.source, 'cam1');
  assert.deepEqual(first.data, b);
  assert.ok(Math.abs(first.ts - Date.now()) < 60_000);
  assert.deepEqual(await files(r.dir), ['.hidden.jpg', 'w.jpg.crdownload', 'x.jpg.part', 'y.tmp', 'z.jpg~']);
  assert.equal(r.counters.framesIn, 3);
  assert.equal(r.counters.rejected, 0);
  assert.deepEqual(r.events.events, []);
});

test('afterProcess delete removes committed files', async (t) => {
  const r = await rig(t, { afterProcess: 'delete' });
  await start(r.source);
  await writeFile(join(r.dir, 'one.jpg'), await jpeg());
  await writeFile(join(r.dir, 'two.jpg'), await jpeg(0x20));
  await waitFor('both files gone', async () => (await files(r.dir)).length === 0 && r.frames.length === 2);
  assert.deepEqual(await files(join(r.dir, 'done')), []);
  assert.equal(r.counters.framesIn, 2);
});

test('empty, oversize, non-image, wrong-extension and truncated files go to rejected/ with reasons', async (t) => {
  const r = await rig(t, { maxBytes: 10_000 });
  const noisy = await noisyJpeg();
  assert.ok(noisy.length > 10_000);
  await writeFile(join(r.dir, 'empty.jpg'), Buffer.alloc(0));
  await writeFile(join(r.dir, 'notes.jpg'), 'shift notes: line 3 stopped at 14:02\n');
  await writeFile(join(r.dir, 'huge.jpg'), noisy);
  await writeFile(join(r.dir, 'readme.csv'), 'a,b\n1,2\n');
  await writeFile(join(r.dir, 'cut.jpg'), noisy.subarray(0, 6000));
  await writeFile(join(r.dir, 'fine.jpg'), await jpeg());
  await start(r.source);

  await waitFor('five rejections and one done', async () => (await files(join(r.dir, 'rejected'))).length === 10 && (await files(join(r.dir, 'done'))).length === 1);

  const reasons = new Map(r.events.events.map((e) => [e.detail?.['file'], e]));
  assert.equal(r.events.events.length, 5);
  for (const e of r.events.events) {
    assert.equal(e.kind, 'frame_rejected');
    assert.equal(e.level, 'warn');
    assert.equal(e.source, 'cam1');
    assert.equal(e.message, `${String(e.detail?.['file'])}: ${String(e.detail?.['reason'])}`);
  }
  assert.equal(reasons.get('empty.jpg')?.detail?.['reason'], 'empty file (0 bytes)');
  assert.equal(reasons.get('empty.jpg')?.detail?.['code'], FolderRejectCode.empty);
  assert.equal(reasons.get('empty.jpg')?.detail?.['bytes'], 0);
  assert.equal(reasons.get('huge.jpg')?.detail?.['reason'], `file of ${noisy.length} bytes exceeds maxBytes 10000`);
  assert.match(String(reasons.get('notes.jpg')?.detail?.['reason']), /^not an image: content starts with 73 68 69 66 74 20 6e 6f \("shift no"\)$/);
  assert.equal(reasons.get('readme.csv')?.detail?.['reason'], 'not an image file extension');
  assert.equal(reasons.get('cut.jpg')?.detail?.['code'], 'E_DECODE');
  assert.equal(reasons.get('cut.jpg')?.detail?.['bytes'], 6000);

  assert.deepEqual(await files(join(r.dir, 'rejected')), [
    'cut.jpg', 'cut.jpg.reason.txt', 'empty.jpg', 'empty.jpg.reason.txt', 'huge.jpg', 'huge.jpg.reason.txt',
    'notes.jpg', 'notes.jpg.reason.txt', 'readme.csv', 'readme.csv.reason.txt',
  ]);
  assert.match(await readFile(join(r.dir, 'rejected', 'empty.jpg.reason.txt'), 'utf8'), /reason: empty file \(0 bytes\)/);
  assert.deepEqual(await files(r.dir), []);
  assert.deepEqual(ids(r.frames), ['cut.jpg', 'fine.jpg'], 'only files that look like images reach the pipeline');
  assert.equal(r.counters.framesIn, 2);
  assert.equal(r.counters.rejected, 5);
});

test('a file written slowly in chunks is read only once complete', async (t) => {
  const r = await rig(t, { stableMs: 300, pollMs: 20 });
  await start(r.source);
  const image = await noisyJpeg();
  const quarter = Math.ceil(image.length / 4);
  const handle = await open(join(r.dir, 'slow.jpg'), 'w');
  for (let i = 0; i < 4; i++) {
    await handle.write(image.subarray(i * quarter, (i + 1) * quarter));
    await handle.sync();
    if (i < 3) await sleep(150);
  }
  await handle.close();
  assert.equal(r.frames.length, 0, 'nothing handed over while the writer was still writing');
  await waitFor('the complete file', () => r.frames.length === 1);
  assert.deepEqual(r.frames[0]!.data, image);
  await waitFor('the file filed', async () => (await files(join(r.dir, 'done'))).length === 1);
  await sleep(100);
  assert.equal(r.frames.length, 1);
  assert.equal(r.counters.rejected, 0);
});

test('a file written as .part and renamed into place is read once', async (t) => {
  const r = await rig(t);
  await start(r.source);
  const image = await jpeg();
  await writeFile(join(r.dir, 'frame.jpg.part'), image);
  await sleep(150);
  assert.equal(r.frames.length, 0);
  assert.deepEqual(await files(r.dir), ['frame.jpg.part']);
  await rename(join(r.dir, 'frame.jpg.part'), join(r.dir, 'frame.jpg'));
  await waitFor('the renamed file in done/', async () => (await files(join(r.dir, 'done'))).includes('frame.jpg'));
  await sleep(100);
  assert.deepEqual(ids(r.frames), ['frame.jpg']);
  assert.deepEqual(r.frames[0]!.data, image);
});

test('each file is handed over exactly once across many polls', async (t) => {
  const r = await rig(t, { pollMs: 1, stableMs: 5 }, { delayMs: 5 });
  await start(r.source);
  const image = await jpeg();
  const names = Array.from({ length: 30 }, (_, i) => `part-${String(i).padStart(3, '0')}.jpg`);
  for (const name of names) {
    await writeFile(join(r.dir, name), image);
    await sleep(2);
  }
  await waitFor('all files in done/', async () => (await files(join(r.dir, 'done'))).length === 30);
  await sleep(200);
  assert.deepEqual(ids(r.frames), names);
  assert.equal(r.counters.framesIn, 30);
});

test('backpressure: a slow pipeline behind a queue of one still gets all 20 files, none twice', async (t) => {
  const r = await rig(t, {}, { capacity: 1, delayMs: 25 });
  const image = await jpeg();
  const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}.jpg`);
  for (const name of names) await writeFile(join(r.dir, name), image);
  await start(r.source);
  await waitFor('all files in done/', async () => (await files(join(r.dir, 'done'))).length === 20);
  assert.deepEqual(ids(r.frames), names);
  assert.deepEqual(await files(r.dir), []);
});

test('stop() leaves files never handed over in the folder, and a restart picks them up', async (t) => {
  const r = await rig(t, {}, { capacity: 1, delayMs: 40 });
  const image = await jpeg();
  const names = Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, '0')}.jpg`);
  for (const name of names) await writeFile(join(r.dir, name), image);
  await start(r.source);
  await waitFor('a few frames', () => r.frames.length >= 3);
  await Promise.all([r.source.stop(), r.source.stop()]);

  // Everything handed over was settled and filed before stop() resolved.
  const handed = r.frames.length;
  assert.equal((await files(join(r.dir, 'done'))).length, handed);
  const left = await files(r.dir);
  assert.ok(left.length > 0, 'files remain after stop');
  assert.equal(left.length + handed, 20);
  await sleep(150);
  assert.equal(r.frames.length, handed, 'nothing handed over after stop');

  const again = new FolderSource({ config: r.config, queue: r.queue, events: r.events, counters: r.counters, log });
  t.after(() => again.stop());
  await start(again);
  await waitFor('all files in done/ after restart', async () => (await files(join(r.dir, 'done'))).length === 20);
  assert.deepEqual(ids(r.frames), names);
  assert.equal(r.counters.framesIn, 20);
});

test('done/ on another filesystem: rename fails with EXDEV and the file is copied across', async (t) => {
  const shm = await stat('/dev/shm').catch(() => undefined);
  if (!shm || shm.dev === (await stat(tmpdir())).dev) return t.skip('no second filesystem at /dev/shm');
  const elsewhere = await mkdtemp('/dev/shm/folder-source-done-');
  t.after(() => rm(elsewhere, { recursive: true, force: true }));
  const r = await rig(t, { doneDir: elsewhere });
  const image = await jpeg();
  await writeFile(join(r.dir, 'across.jpg'), image);
  await start(r.source);
  await waitFor('the file on the other filesystem', async () => (await files(elsewhere)).includes('across.jpg'));
  assert.deepEqual(await readFile(join(elsewhere, 'across.jpg')), image);
  await waitFor('the original unlinked', async () => (await files(r.dir)).length === 0);
  assert.deepEqual(r.events.events, []);
});

test('a closed pipeline queue leaves the file in the folder, unrejected', async (t) => {
  const r = await rig(t);
  r.queue.close();
  await writeFile(join(r.dir, 'late.jpg'), await jpeg());
  await start(r.source);
  await sleep(200);
  await r.source.stop();
  assert.deepEqual(await files(r.dir), ['late.jpg']);
  assert.equal(r.counters.framesIn, 0);
  assert.equal(r.counters.rejected, 0);
});

test('stop() is safe without start', async () => {
  const queue = new FrameQueue(1);
  const config = FolderSourceSchema.parse({ id: 'cam1', type: 'folder', path: join(tmpdir(), 'never-created') });
  const source = new FolderSource({ config, queue, events: new MemoryEvents(), counters: new Counters(), log });
  await source.stop();
  await source.stop();
});
