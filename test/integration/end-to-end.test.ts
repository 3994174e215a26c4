import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FolderRejectCode } from '../../agent/sources/camera/folder.js';
import { integrityCheck, outboxCounts, rejections } from '../helpers/agent-db.js';
import { delivered } from '../helpers/central.js';
import { filesIn, writeSlowly } from '../helpers/hot-folder.js';
import { corruptJpeg, partJpeg, partPng, truncatedJpeg } from '../helpers/images.js';
import { startRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const DEVICE = 'e2e-gw01';

/** Files the pipeline must refuse, with the code each must be refused under. */
const BAD: Record<string, { code: string; data: () => Promise<Buffer> }> = {
  'corrupt.jpg': { code: 'E_IMAGE_DECODE', data: () => corruptJpeg(101) },
  'truncated.jpg': { code: 'E_IMAGE_DECODE', data: () => truncatedJpeg(102) },
  'empty.jpg': { code: FolderRejectCode.empty, data: async () => Buffer.alloc(0) },
  'notes.jpg': { code: FolderRejectCode.notImage, data: async () => Buffer.from('shift notes: line 3 stopped at 14:20\n') },
  'readme.txt': { code: FolderRejectCode.wrongExtension, data: async () => Buffer.from('not for the camera\n') },
};
/** Decoded fine by the hot folder's sniffing, refused by the decoder: these count as frames in. */
const DECODER_REFUSED = Object.values(BAD).filter((b) => b.code === 'E_IMAGE_DECODE').length;

/** The note is written just after its file is moved; a listing in between is not the end state. */
function notesComplete(rejected: string[]): boolean {
  return rejected.filter((n) => !n.endsWith('.reason.txt')).every((n) => rejected.includes(`${n}.reason.txt`));
}

test('good images reach central once each; bad ones are refused, filed and audited', { timeout: 60_000 }, async (t) => {
  const rig = await startRig(t);
  const agent = await rig.startAgent(await rig.writeAgentConfig(DEVICE, { stableMs: 300 }));

  const good: Record<string, Buffer> = {
    'part-0001.jpg': await partJpeg(1),
    'part-0002.jpg': await partJpeg(2),
    'part-0003.JPG': await partJpeg(3),
    'part-0004.png': await partPng(4),
  };
  for (const [name, data] of Object.entries(good)) await writeFile(join(rig.inbox, name), data);
  for (const [name, bad] of Object.entries(BAD)) await writeFile(join(rig.inbox, name), await bad.data());
  // Pauses (200 ms) shorter than stableMs: read early, it would be a truncated JPEG and refused.
  const slow = 'part-0005-slow.jpg';
  await writeSlowly(join(rig.inbox, slow), await partJpeg(5), 4, 200);
  const goodNames = [...Object.keys(good), slow].sort();
  const badNames = Object.keys(BAD).sort();

  await waitFor('every file to be filed', async () => (await filesIn(rig.inbox)).length === 0 && notesComplete(await filesIn(rig.rejected)), 20_000);
  assert.deepEqual(await filesIn(rig.done), goodNames, 'done/ holds exactly the good images');
  await waitFor('every good image at central', () => delivered(rig.ingest, DEVICE).rows >= goodNames.length, 15_000);
  const notes = badNames.map((n) => `${n}.reason.txt`);
  assert.deepEqual(await filesIn(rig.rejected), [...badNames, ...notes].sort(), 'rejected/ holds each bad file and its reason note');
  for (const name of badNames) {
    const note = await readFile(join(rig.rejected, `${name}.reason.txt`), 'utf8');
    assert.match(note, new RegExp(`^code: ${BAD[name]?.code}$`, 'm'), `${name}'s note names its code`);
  }

  // Ingest may commit a batch before the agent has handled the broker's PUBACK for it.
  await waitFor('the outbox to be acknowledged', async () => (await agent.status()).outbox.pending === 0, 10_000);
  const s = await agent.status();
  assert.equal(s.counters.predictions, goodNames.length, 'one prediction per good image');
  assert.equal(s.counters.rejected, badNames.length, 'every bad file counted as rejected');
  // Files refused on their name, size or magic bytes never become frames; decoder refusals do.
  assert.equal(s.counters.framesIn, goodNames.length + DECODER_REFUSED, 'framesIn = images handed to the pipeline');
  assert.equal(s.counters.errors, 0);
  assert.equal(s.broker.connected, true);

  assert.equal(await agent.stop('SIGTERM'), 0, `exit code on SIGTERM\n${agent.tail()}`);

  const central = delivered(rig.ingest, DEVICE);
  assert.deepEqual(central.frames, goodNames, 'central has exactly the good images, each once');
  assert.equal(central.distinctSeqs, central.rows, '(device, seq) is unique');

  assert.equal(integrityCheck(rig.dbPath), 'ok');
  assert.deepEqual(outboxCounts(rig.dbPath), { total: goodNames.length, unsent: 0 });
  const audit = rejections(rig.dbPath);
  assert.deepEqual(audit.map((e) => e.file).sort(), badNames, 'one frame_rejected event per bad file, none for good ones');
  for (const event of audit) {
    assert.equal(event.code, BAD[event.file]?.code, `${event.file} refused for the right reason: ${event.reason}`);
    assert.ok(event.reason.length > 0 && event.message.includes(event.file), `${event.file}'s event says why: ${event.message}`);
  }
});
