import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { OutboxWriter } from '../../agent/buffer/outbox-writer.js';
import { Store } from '../../agent/buffer/store.js';
import { systemClock } from '../../agent/clock.js';
import { Counters } from '../../agent/counters.js';
import type { Frame, FrameOutcome } from '../../agent/frame.js';
import { ImageClassifierModel } from '../../agent/inference/image-model.js';
import { FrameQueue } from '../../agent/pipeline/frame-queue.js';
import { ImagePipeline } from '../../agent/pipeline/image-pipeline.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { defectModelConfig } from '../helpers/defect-model-config.js';
import { tempDir } from '../helpers/tmp.js';

const log = pino({ level: 'silent' });

test('frames flow through the real model into the SQLite outbox, one committed prediction each', async (t) => {
  const dir = await tempDir(t);
  const model = await ImageClassifierModel.load(await defectModelConfig(dir), dir);
  t.after(() => model.release());
  const store = new Store({ config: { path: join(dir, 'agent.db'), busyTimeoutMs: 1000 }, log });
  const writer = new OutboxWriter({ outbox: store.outbox, events: store.events, log, batchSize: 8, lingerMs: 5 });
  const queue = new FrameQueue(4);
  const counters = new Counters();
  const pipeline = new ImagePipeline({ routes: [{ source: 'cam1', queue, models: [model] }], sink: writer, events: store.events, counters, clock: systemClock, log, concurrency: 2 });
  await pipeline.start();

  const outcomes = new Map<string, FrameOutcome>();
  const truth = new Map<string, string>();
  const frames: Frame[] = [];
  for (let i = 0; i < 24; i++) {
    const part = renderPart(i, { width: 640, height: 480, defectRate: 0.5, seed: 7 });
    const id = `part-${i}.jpg`;
    truth.set(id, part.defects.length > 0 ? 'defect' : 'ok');
    frames.push({ source: 'cam1', id, data: await encodePartJpeg(part), ts: Date.now(), arrivedAt: performance.now(), settle: (o) => outcomes.set(id, o) });
  }
  const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(2000, 7)]);
  frames.splice(5, 0, { source: 'cam1', id: 'corrupt.jpg', data: garbage, ts: Date.now(), arrivedAt: performance.now(), settle: (o) => outcomes.set('corrupt.jpg', o) });
  for (const f of frames) await queue.put(f);
  await pipeline.stop();
  await writer.stop();

  const bad = outcomes.get('corrupt.jpg');
  assert.ok(bad && !bad.ok && bad.code === 'E_IMAGE_DECODE', `corrupt frame outcome: ${JSON.stringify(bad)}`);
  const rows = store.outbox.nextBatch(1000, 10_000_000);
  assert.equal(rows.length, 24, 'one prediction per good frame, none for the corrupt one');
  assert.equal(counters.predictions, 24);
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => rows[0]!.seq + i), 'sequence numbers are consecutive');
  for (const r of rows) {
    assert.equal(outcomes.get(r.frameId)?.ok, true);
    assert.equal(r.label, truth.get(r.frameId), `${r.frameId}: model says ${r.label} (${r.score})`);
    assert.equal(r.model, 'defect');
    assert.equal(r.topK.length, 2);
    assert.ok(r.latencyMs > 0);
  }
  await store.stop();
});
