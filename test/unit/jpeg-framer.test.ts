import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { JpegFramer, type FramerOutput } from '../../agent/sources/camera/jpeg-framer.js';

/** Small, distinct JPEGs; noise makes the entropy-coded data long and full of stuffed FF 00. */
async function jpegs(n: number, opts: { progressive?: boolean; side?: number } = {}): Promise<Buffer[]> {
  const side = opts.side ?? 24;
  const out: Buffer[] = [];
  for (let k = 0; k < n; k++) {
    const raw = Buffer.alloc(side * side * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = ((i + k * 7919) * 2654435761) >>> 24;
    out.push(await sharp(raw, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90, progressive: opts.progressive ?? false }).toBuffer());
  }
  return out;
}

const CRLF = '\r\n';

function part(body: Buffer, contentLength: number | null, boundary = 'frame'): Buffer {
  const headers = `--${boundary}${CRLF}Content-Type: image/jpeg${CRLF}${contentLength === null ? '' : `Content-Length: ${contentLength}${CRLF}`}${CRLF}`;
  return Buffer.concat([Buffer.from(headers, 'latin1'), body, Buffer.from(CRLF)]);
}

/** Feeds `stream` cut at `cuts` (offsets) and gathers what the framer says. */
function feed(stream: Buffer, cuts: number[], maxBytes = 1 << 20): FramerOutput[] {
  const framer = new JpegFramer(maxBytes);
  const out: FramerOutput[] = [];
  let from = 0;
  for (const at of [...cuts, stream.length]) {
    out.push(...framer.push(stream.subarray(from, at)));
    from = at;
  }
  return out;
}

function frames(out: FramerOutput[]): Buffer[] {
  return out.flatMap((o) => (o.kind === 'frame' ? [o.data] : []));
}

function refusals(out: FramerOutput[]): string[] {
  return out.flatMap((o) => (o.kind === 'refused' ? [o.reason] : []));
}

/** Every two-chunk split of the stream, and a few three-chunk ones around the frames' edges. */
function assertEverySplit(stream: Buffer, expectFrames: Buffer[], expectRefused: string[] = []): void {
  for (let cut = 0; cut <= stream.length; cut++) {
    const out = feed(stream, [cut]);
    assert.deepEqual(frames(out), expectFrames, `frames with a cut at ${cut}`);
    assert.deepEqual(refusals(out), expectRefused, `refusals with a cut at ${cut}`);
  }
}

test('parts with a right Content-Length come out whole at every split, and byte by byte', async () => {
  const imgs = await jpegs(3);
  const stream = Buffer.concat(imgs.map((j) => part(j, j.length)));
  assertEverySplit(stream, imgs);
  const byteByByte = feed(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1));
  assert.deepEqual(frames(byteByByte), imgs);
});

test('missing and wrong Content-Length do not matter', async () => {
  const imgs = await jpegs(3);
  const stream = Buffer.concat([part(imgs[0]!, null), part(imgs[1]!, imgs[1]!.length + 5000), part(imgs[2]!, 17)]);
  assertEverySplit(stream, imgs);
});

test('garbage between parts is skipped, including stray FF and half a start marker', async () => {
  const imgs = await jpegs(3);
  const garbage = Buffer.from([0xff, 0xff, 0x00, 0xff, 0xd8, 0x41, 0xd9, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0xff]);
  const stream = Buffer.concat([Buffer.from('junk before the first boundary\r\n'), part(imgs[0]!, imgs[0]!.length), garbage, part(imgs[1]!, null), Buffer.from('HTTP/1.0 200 OK\r\n\r\n'), garbage, part(imgs[2]!, imgs[2]!.length)]);
  assertEverySplit(stream, imgs);
  const framer = new JpegFramer(1 << 20);
  framer.push(stream);
  assert.ok(framer.takeSkipped() > garbage.length * 2, 'skipped bytes are counted');
});

test('a part cut short is refused as truncated and the next part is intact', async () => {
  const imgs = await jpegs(3);
  const cutInScan = imgs[1]!.subarray(0, imgs[1]!.length - 40);
  const cutInHeader = imgs[2]!.subarray(0, 30);
  const stream = Buffer.concat([part(imgs[0]!, imgs[0]!.length), part(cutInScan, imgs[1]!.length), part(cutInHeader, null), part(imgs[2]!, imgs[2]!.length)]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const out = feed(stream, [cut]);
    assert.deepEqual(frames(out), [imgs[0], imgs[2]], `frames with a cut at ${cut}`);
    assert.equal(refusals(out).length, 2, `two refusals with a cut at ${cut}: ${refusals(out).join(', ')}`);
    assert.equal(refusals(out)[0], 'truncated');
  }
});

test('progressive JPEGs (several scans) are one frame each', async () => {
  const imgs = await jpegs(2, { progressive: true });
  assert.ok(imgs.every((j) => j.indexOf(Buffer.from([0xff, 0xda])) !== j.lastIndexOf(Buffer.from([0xff, 0xda]))), 'several scans');
  assertEverySplit(Buffer.concat(imgs.map((j) => part(j, j.length))), imgs);
});

test('an embedded thumbnail with its own end marker does not end the frame', async () => {
  const [thumb, main] = await jpegs(2);
  // APP1 carrying a whole JPEG, right after the main image's SOI.
  const payload = Buffer.concat([Buffer.from('Exif\0\0'), thumb!]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(payload.length + 2, 2);
  const withThumb = Buffer.concat([main!.subarray(0, 2), app1, payload, main!.subarray(2)]);
  assert.equal((await sharp(withThumb).metadata()).width, 24, 'still a valid JPEG');
  assertEverySplit(Buffer.concat([part(withThumb, null), part(main!, null)]), [withThumb, main!]);
});

test('concatenated JPEGs without any multipart framing (ffmpeg image2pipe)', async () => {
  const imgs = await jpegs(4);
  assertEverySplit(Buffer.concat(imgs), imgs);
});

test('a frame larger than maxBytes is refused and memory stays bounded', async () => {
  const [big] = await jpegs(1, { side: 128 });
  const [small] = await jpegs(1);
  const stream = Buffer.concat([part(big!, null), part(small!, null)]);
  const out = feed(stream, [100, 3000], 2000);
  assert.deepEqual(refusals(out), ['too_large']);
  assert.deepEqual(frames(out), [small]);
});

test('a broken marker structure is refused as corrupt and the stream recovers', async () => {
  const [a, b] = await jpegs(2);
  const broken = Buffer.from(a!);
  // The byte after SOI's FF D8 must start a marker; make the first segment's marker nonsense.
  broken[2] = 0x12;
  const stream = Buffer.concat([part(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0x00]), broken.subarray(4)]), null), part(b!, null)]);
  const out = feed(stream, []);
  assert.deepEqual(refusals(out), ['corrupt']);
  assert.deepEqual(frames(out), [b]);
});
