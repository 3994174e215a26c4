// First, as the agent's connection module does: mqtt-packet's writer must load after it.
import { encodeVariableByteInt, isCompactLength, lengthCacheCompact } from '../../protocol/mqtt-length-cache.js';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { connect } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { BrokerSchema } from '../../agent/config/schema.js';
import { clientOptions } from '../../agent/sync/client-options.js';

const require = createRequire(import.meta.url);
const mqttPacket = require('mqtt-packet') as typeof import('mqtt-packet') & { writeToStream: { cacheNumbers: boolean } };
const numbers = require('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

/** Writes `packet` as MQTT.js does (writeToStream) and returns the chunks written. */
function written(packet: Packet, protocolVersion: 4 | 5): Buffer[] {
  const chunks: Buffer[] = [];
  const stream = {
    write: (c: Buffer | string, encoding?: BufferEncoding) => chunks.push(typeof c === 'string' ? Buffer.from(c, encoding) : c) > 0,
    destroy: (err: Error) => assert.fail(err),
  };
  mqttPacket.writeToStream(packet, stream as never, { protocolVersion });
  return chunks;
}

function parsed(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const out: Packet[] = [];
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (err: Error) => assert.fail(err));
  parser.parse(bytes);
  return out;
}

const publish = (payloadBytes: number, v5: boolean): Packet => ({
  cmd: 'publish',
  topic: 'edge/plant-1/gw-1/predictions',
  payload: Buffer.alloc(payloadBytes, 0x61),
  qos: 1,
  messageId: 7,
  retain: false,
  dup: false,
  ...(v5 ? { properties: { contentType: 'application/json', userProperties: { batch: String(payloadBytes) } } } : {}),
});

// First in this file: mqtt-packet builds its number cache at the first packet it writes, unless told not to.
test("the agent's MQTT client writes without mqtt-packet's cache of 65,536 two-byte numbers", () => {
  const config = BrokerSchema.parse({ url: 'mqtt://127.0.0.1:9' });
  const client = connect(config.url, { ...clientOptions(config, { deviceId: 'gw-1', site: 'plant-1', agentVersion: 'test' }, Date.now()), connectTimeout: 100 });
  client.end(true);
  assert.equal(mqttPacket.writeToStream.cacheNumbers, false);
  written(publish(10, false), 4);
  assert.equal(Object.keys(numbers.cache).length, 0, 'no number cache was built');
});

test('MQTT variable byte integers encode as the MQTT spec gives them', () => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [16_383, [0xff, 0x7f]],
    [16_384, [0x80, 0x80, 0x01]],
    [2_097_151, [0xff, 0xff, 0x7f]],
    [2_097_152, [0x80, 0x80, 0x80, 0x01]],
    [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
  ];
  for (const [num, bytes] of cases) assert.deepEqual([...encodeVariableByteInt(num)], bytes, `${num}`);
  assert.equal(encodeVariableByteInt(268_435_456).length, 0, 'beyond the largest length MQTT can say');
});

test("mqtt-packet's cached packet lengths live in one block, not in node's buffer pool", () => {
  assert.equal(lengthCacheCompact, true, 'the module came before mqtt-packet loaded');
  const blocks = new Set<ArrayBufferLike>();
  // Lengths met one at a time, as prediction batches of new sizes go out.
  for (let payload = 0; payload < 3000; payload += 7) {
    for (const v of [4, 5] as const) {
      const chunks = written(publish(payload, v === 5), v);
      const length = chunks[1]!;
      assert.ok(isCompactLength(length), `the length of a ${payload}-byte v${v} publish is a view of the block`);
      blocks.add(length.buffer);
      const back = parsed(Buffer.concat(chunks), v);
      assert.equal(back.length, 1);
      assert.equal((back[0] as { payload: Buffer }).payload.length, payload);
    }
  }
  assert.equal(blocks.size, 1, 'every cached length shares the one block');
});

test('packets longer than the cache covers still encode and parse back', () => {
  for (const payload of [16_300, 16_384, 70_000, 2_100_000]) {
    for (const v of [4, 5] as const) {
      const chunks = written(publish(payload, v === 5), v);
      const back = parsed(Buffer.concat(chunks), v);
      assert.equal((back[0] as { payload: Buffer }).payload.length, payload, `${payload} bytes, v${v}`);
    }
  }
});
