import { createRequire } from 'node:module';

/**
 * mqtt-packet (the encoder under MQTT.js and aedes) keeps the encoded form of every packet
 * length below 16,384 it has written, for the life of the process, and makes each one with
 * `Buffer.allocUnsafe`: a 1-4 byte view of node's shared 8 KiB buffer pool, which keeps that
 * whole pool block alive (mqttjs/mqtt-packet#163). Lengths met one at a time, among other
 * allocations, pin a block each: in the 100,000-frame soak those blocks held 0.6 MB after
 * 1,000 frames and 2.1 MB after 20,000, growing as prediction batches of new lengths went out,
 * with 128 MiB as the bound.
 *
 * Importing this module before mqtt-packet's writer loads points the writer's length
 * encoder at one block of 64 KiB that this module owns: a length's bytes sit at a fixed
 * place in it, so the cache holds those 64 KiB however many lengths it meets. Import it
 * before `mqtt` or `aedes`; `lengthCacheCompact` says whether it came first.
 */
const require = createRequire(import.meta.url);

/** mqtt-packet caches the lengths below this. */
const CACHED = 16_384;
/** A variable byte integer takes at most 4 bytes. */
const WIDTH = 4;
const block = Buffer.allocUnsafeSlow(CACHED * WIDTH);

/** MQTT's variable byte integer for `num`, as mqtt-packet's `genBufVariableByteInt` encodes it (empty when out of range). */
export function encodeVariableByteInt(num: number): Buffer {
  const out = num >= 0 && num < CACHED ? block.subarray(num * WIDTH, num * WIDTH + WIDTH) : Buffer.allocUnsafe(WIDTH);
  let pos = 0;
  do {
    let digit = num % 128 | 0;
    num = (num / 128) | 0;
    if (num > 0) digit |= 0x80;
    out[pos++] = digit;
  } while (num > 0 && pos < WIDTH);
  return out.subarray(0, num > 0 ? 0 : pos);
}

const writerLoaded = require.resolve('mqtt-packet/writeToStream.js') in require.cache;
if (!writerLoaded) {
  const numbers = require('mqtt-packet/numbers.js') as { genBufVariableByteInt: (num: number) => Buffer };
  numbers.genBufVariableByteInt = encodeVariableByteInt;
}

/** True when the writer took the compact encoder: this module was imported before anything loaded mqtt-packet's writer. */
export const lengthCacheCompact = !writerLoaded;

/** The block the cached lengths live in; a written length that is a view of it came from the compact encoder. */
export function isCompactLength(buf: Buffer): boolean {
  return buf.buffer === block.buffer;
}
