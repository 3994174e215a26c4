/** What a byte stream of concatenated JPEGs (MJPEG parts, ffmpeg's image2pipe) yields. */
export type FramerOutput =
  | { kind: 'frame'; data: Buffer }
  | { kind: 'refused'; reason: 'truncated' | 'corrupt' | 'too_large'; bytes: number };

const SOI = Buffer.from([0xff, 0xd8, 0xff]);

/*
 * Frames are delimited by the JPEG's own markers, never by a part's Content-Length:
 * cameras omit it, send a stale one, or count the trailing CRLF. Walking the marker
 * segments (rather than searching for FF D9) skips an EXIF thumbnail's own end marker,
 * and in the entropy-coded data every FF is followed by 00, a restart marker or a real
 * marker, so a new frame's SOI there means the previous one was cut short.
 */
type Mode = 'seek' | 'marker' | 'entropy';

/**
 * Splits a byte stream into whole JPEGs, resumable across chunks of any size. Bytes
 * between frames (multipart boundaries and headers, garbage) are skipped; a frame cut
 * short or structurally broken is reported as refused and the stream resynchronises
 * on the next start-of-image marker. Memory is bounded by `maxBytes` per frame.
 */
export class JpegFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** Valid bytes in `buf`. */
  private end = 0;
  /** Where the current frame starts (mode marker/entropy), and where parsing resumes. */
  private start = 0;
  private pos = 0;
  private mode: Mode = 'seek';
  /** Bytes skipped between frames since the last call to `takeSkipped`. */
  private skipped = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feeds one chunk; returns the frames and refusals it completed, in stream order. */
  push(chunk: Uint8Array): FramerOutput[] {
    this.append(chunk);
    const out: FramerOutput[] = [];
    for (;;) {
      const progressed = this.mode === 'seek' ? this.seek() : this.walk(out);
      if (!progressed) break;
    }
    // Cheap when nothing is pending; a partial frame moves only when the buffer must make room.
    if (this.end - this.consumed() <= 2) this.compact();
    return out;
  }

  /** Bytes that belonged to no frame since the last call (boundaries, headers, garbage). */
  takeSkipped(): number {
    const n = this.skipped;
    this.skipped = 0;
    return n;
  }

  /** Forgets a partial frame, e.g. when the connection is replaced. */
  reset(): void {
    this.end = this.start = this.pos = 0;
    this.mode = 'seek';
  }

  private seek(): boolean {
    const at = this.buf.subarray(0, this.end).indexOf(SOI, this.pos);
    if (at < 0) {
      // Keep the last two bytes: FF D8 may be split from its FF by the chunk boundary.
      const keep = Math.max(this.pos, this.end - 2);
      this.skipped += keep - this.pos;
      this.pos = this.start = keep;
      return false;
    }
    this.skipped += at - this.pos;
    this.start = at;
    this.pos = at + 2;
    this.mode = 'marker';
    return true;
  }

  /** Walks the current frame; true when it finished one (or refused one) and parsing should go on. */
  private walk(out: FramerOutput[]): boolean {
    const b = this.buf;
    for (;;) {
      if (this.pos - this.start > this.maxBytes) return this.refuse(out, 'too_large', this.start + 2);
      if (this.mode === 'entropy') {
        const ff = b.subarray(0, this.end).indexOf(0xff, this.pos);
        if (ff < 0 || ff + 1 >= this.end) {
          this.pos = ff < 0 ? this.end : ff;
          return false;
        }
        const m = b[ff + 1]!;
        if (m === 0x00 || (m >= 0xd0 && m <= 0xd7)) {
          this.pos = ff + 2;
          continue;
        }
        if (m === 0xff) {
          this.pos = ff + 1;
          continue;
        }
        this.pos = ff;
        this.mode = 'marker';
      }
      // mode marker: pos is at a marker (FF xx), possibly after fill bytes
      if (this.pos + 2 > this.end) return false;
      if (b[this.pos] !== 0xff) return this.refuse(out, 'corrupt', this.start + 2);
      const m = b[this.pos + 1]!;
      if (m === 0xff) {
        this.pos += 1;
        continue;
      }
      if (m === 0xd9) return this.emit(out, this.pos + 2);
      if (m === 0xd8) return this.refuse(out, 'truncated', this.pos);
      if ((m >= 0xd0 && m <= 0xd7) || m === 0x01) {
        this.pos += 2;
        continue;
      }
      if (m === 0x00) return this.refuse(out, 'corrupt', this.start + 2);
      if (this.pos + 4 > this.end) return false;
      const length = b.readUInt16BE(this.pos + 2);
      if (length < 2) return this.refuse(out, 'corrupt', this.start + 2);
      const next = this.pos + 2 + length;
      if (next - this.start > this.maxBytes) return this.refuse(out, 'too_large', this.start + 2);
      if (next > this.end) return false;
      // A new SOI inside a segment's declared length means the segment (and frame) was cut.
      // APPn and COM may embed a thumbnail JPEG; nothing else holds one.
      const cut = (m >= 0xe0 && m <= 0xef) || m === 0xfe ? -1 : b.subarray(this.pos + 4, next).indexOf(SOI);
      if (cut >= 0) return this.refuse(out, 'truncated', this.pos + 4 + cut);
      this.pos = next;
      if (m === 0xda) this.mode = 'entropy';
    }
  }

  private emit(out: FramerOutput[], end: number): boolean {
    // A copy: the frame outlives this buffer, which is reused for the next bytes.
    out.push({ kind: 'frame', data: Buffer.from(this.buf.subarray(this.start, end)) });
    this.start = this.pos = end;
    this.mode = 'seek';
    return true;
  }

  /** Reports the frame as refused and resumes the search for the next one at `resumeAt`. */
  private refuse(out: FramerOutput[], reason: 'truncated' | 'corrupt' | 'too_large', resumeAt: number): boolean {
    out.push({ kind: 'refused', reason, bytes: resumeAt - this.start });
    this.start = this.pos = resumeAt;
    this.mode = 'seek';
    return true;
  }

  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buf.length) this.compact();
    if (this.end + chunk.length > this.buf.length) {
      const size = Math.max(this.end + chunk.length, this.buf.length * 2, 64 * 1024);
      const grown = Buffer.allocUnsafe(size);
      this.buf.copy(grown, 0, 0, this.end);
      this.buf = grown;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  private consumed(): number {
    return this.mode === 'seek' ? this.pos : this.start;
  }

  /** Drops consumed bytes so the buffer holds at most the current frame. */
  private compact(): void {
    const drop = this.consumed();
    if (drop === 0) return;
    this.buf.copy(this.buf, 0, drop, this.end);
    this.end -= drop;
    this.pos -= drop;
    this.start -= drop;
  }
}
