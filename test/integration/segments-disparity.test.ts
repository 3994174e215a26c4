import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../../agent/agent.js';
import { ConfigSchema } from '../../agent/config/schema.js';
import { defectModelEntry, writeDefectModel } from '../../agent/demo/defect-model.js';
import { encodePartJpeg, renderPart } from '../../agent/sources/camera/synthetic-part.js';
import { startBroker } from '../helpers/broker.js';
import { silentLog } from '../helpers/rollout-rig.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/*
 * A segment audit on a running agent with the generated defect detector: three cameras
 * see parts of the same line, two with one part in ten defective and one (a supplier's
 * batch gone bad) with nine in ten. At the end of the audit period the shifted camera,
 * and only it, raises `segment_disparity` on its class mix; the status JSON shows each
 * camera's figures.
 */

const PER_CAMERA = 40;

test('a camera whose class mix shifted raises the segment disparity event; the others do not', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t, 'segments-agent-');
  const broker = await startBroker();
  t.after(() => broker.stop());
  const entry = defectModelEntry(await writeDefectModel(join(dir, 'models')));
  const cameras = [
    { id: 'cam-a', defectRate: 0.1, seed: 1 },
    { id: 'cam-b', defectRate: 0.1, seed: 2 },
    { id: 'cam-c', defectRate: 0.9, seed: 3 },
  ];
  for (const cam of cameras) {
    const folder = join(dir, cam.id);
    await mkdir(folder);
    for (let i = 0; i < PER_CAMERA; i++) await writeFile(join(folder, `part-${i}.jpg`), await encodePartJpeg(renderPart(i, { width: 320, height: 240, defectRate: cam.defectRate, seed: cam.seed })));
  }
  const config = ConfigSchema.parse({
    deviceId: 'gw-segments',
    log: { level: 'silent' },
    sources: cameras.map((c) => ({ id: c.id, type: 'folder', path: join(dir, c.id), stableMs: 50, pollMs: 20 })),
    models: [entry],
    buffer: { path: join(dir, 'agent.db') },
    broker: { url: broker.url, protocolVersion: broker.protocolVersion },
    status: { host: '127.0.0.1', port: 0 },
    // The period is closed by the test once every part is in, so the figures are exact.
    segments: { periodS: 3600, minPredictions: 30 },
  });
  const agent = await Agent.create({ config, baseDir: dir, log: silentLog });
  await agent.start();
  t.after(() => agent.stop());
  const db = agent.store.database;
  await waitFor('every part predicted', () => (db.prepare('SELECT count(*) AS n FROM predictions').get() as { n: number }).n === PER_CAMERA * cameras.length, 90_000);
  assert.equal(agent.store.events.list({ kind: 'segment_disparity', limit: 10 }).length, 0, 'nothing judged before the period ends');

  agent.oversight.segments!.closePeriod();
  const events = agent.store.events.list({ kind: 'segment_disparity', limit: 10 });
  assert.ok(events.length >= 1, 'the shifted camera raises the event');
  assert.deepEqual([...new Set(events.map((e) => e.detail?.value))], ['cam-c'], `only cam-c: ${events.map((e) => e.message).join(' | ')}`);
  assert.ok(events.some((e) => e.detail?.measure === 'classMix' && e.detail?.key === 'camera'));

  const status = (await (await fetch(`${agent.status!.url}/api/status`)).json()) as ReturnType<Agent['snapshot']>;
  const segments = status.oversight!.segments!.lastPeriod!.segments;
  assert.deepEqual(segments.map((s) => [s.value, s.predictions]).sort(), cameras.map((c) => [c.id, PER_CAMERA]));
  const share = (cam: string) => (segments.find((s) => s.value === cam)!.classes.defect ?? 0) / PER_CAMERA;
  assert.ok(share('cam-c') - share('cam-a') > 0.4, `the defect shares differ: a ${share('cam-a')}, c ${share('cam-c')}`);
  assert.equal((db.prepare('SELECT count(*) AS n FROM segment_stats').get() as { n: number }).n, 3, 'the period stored per camera, for central');
});
