import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import type { DemoSummary } from '../../agent/demo/run-demo.js';
import { runBin } from '../helpers/child.js';

/** The demo's promise to scripts: its last stdout line is the JSON summary. */
function lastLineJson(stdout: string): DemoSummary {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as DemoSummary;
  } catch {
    throw new Error(`the last stdout line is not JSON: ${JSON.stringify(last)}\n${stdout}`);
  }
}

test('edge-agent demo runs end to end, syncs every prediction and cleans up after itself', { timeout: 60_000 }, async (t) => {
  // Exactly as a first-time user types it: no --dir, so the demo owns its temp folder.
  const run = await runBin('edge-agent', ['demo', '--duration', '8'], { timeoutMs: 45_000 });
  const dataDir = /^ {2}data: {4}(\S+)/m.exec(run.stdout)?.[1];
  // Should the demo fail before its own cleanup, the folder must not outlive the test.
  if (dataDir) t.after(() => rm(dataDir, { recursive: true, force: true }));

  assert.equal(run.code, 0, `exit code\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /^ {2}status: {2}http:\/\/127\.0\.0\.1:\d+\/api\/status$/m, 'the status URL is printed');
  const summary = lastLineJson(run.stdout);
  assert.ok(summary.predictions > 0, `predictions: ${summary.predictions}`);
  assert.equal(summary.synced, summary.predictions, 'every prediction reached central');
  assert.ok(summary.framesIn >= summary.predictions, 'no prediction without a frame');
  assert.ok(summary.durationS >= 8 && summary.durationS < 30, `ran for ${summary.durationS} s`);
  assert.equal(summary.dir, dataDir, 'the summary names the folder the demo announced');
  assert.ok(dataDir && !existsSync(dataDir), `the temp folder ${dataDir} is removed`);
});
