/** The encodings a camera frame may arrive in, as told by its first bytes. */
export type ImageKind = 'jpeg' | 'png' | 'bmp' | 'tiff' | 'webp' | 'gif';

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(data: Buffer, bytes: readonly number[], at = 0): boolean {
  if (data.length < at + bytes.length) return false;
  return bytes.every((b, i) => data[at + i] === b);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/**
 * The image kind the content's magic bytes announce, or undefined.
 * Only the header is checked: a truncated or corrupt body is the decoder's to find.
 */
export function sniffImage(data: Buffer): ImageKind | undefined {
  if (startsWith(data, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(data, PNG)) return 'png';
  if (startsWith(data, ascii('GIF8'))) return 'gif';
  if (startsWith(data, ascii('II*\0')) || startsWith(data, ascii('MM\0*'))) return 'tiff';
  if (startsWith(data, ascii('RIFF')) && startsWith(data, ascii('WEBP'), 8)) return 'webp';
  // Two bytes also match text starting "BM"; the decoder catches those, and a
  // stricter header check here would risk refusing odd but valid writers.
  if (startsWith(data, ascii('BM'))) return 'bmp';
  return undefined;
}

/**
 * The first bytes in hex with a printable rendering, for a rejection reason an
 * operator can act on: `3c 3f 78 6d 6c 20 76 65 ("<?xml ve")` says "someone saved XML".
 */
export function describeStart(data: Buffer, count = 8): string {
  const head = data.subarray(0, count);
  const hex = [...head].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = [...head].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `${hex} ("${text}")`;
}
