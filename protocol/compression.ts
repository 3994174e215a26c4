import { gunzipSync } from 'node:zlib';
import type { ParseResult } from './parse.js';

/** The first two bytes of a gzip stream; JSON never starts with them. */
const GZIP_MAGIC = [0x1f, 0x8b] as const;

/** Whether `payload` is gzip-compressed (devices compress predictions batches). */
export function isGzip(payload: Buffer): boolean {
  return payload.length >= 2 && payload[0] === GZIP_MAGIC[0] && payload[1] === GZIP_MAGIC[1];
}

/**
 * The payload as JSON bytes: gunzipped when compressed, refusing to inflate past `maxBytes`
 * (a small compressed bomb must not become gigabytes in memory).
 */
export function decompressed(payload: Buffer, maxBytes: number): ParseResult<Buffer> {
  if (!isGzip(payload)) return { ok: true, value: payload };
  try {
    return { ok: true, value: gunzipSync(payload, { maxOutputLength: maxBytes }) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, reason: `gzip payload inflates beyond the limit of ${maxBytes} bytes` };
    return { ok: false, reason: `corrupt gzip payload: ${(err as Error).message}` };
  }
}
