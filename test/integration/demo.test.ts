import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DemoSummary } from '../../agent/demo/run-demo.js';
import { runBin } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

/** The demo's promise to scripts: its last stdout line is the JSON summary. */
function lastLineJson(stdout: string): DemoSummary {
  const last = stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as DemoSummary;
  } catch {
    throw new Error(`the last stdout line is not JSON: ${JSON.stringify(last)}\n${stdout}`);
  }
}

test('edge-agent demo runs end to end and every prediction is synced', { timeout: 60_000 }, async (t) => {
  // --dir keeps the demo's databases in a folder this test removes.
  const dir = await tempDir(t, 'edge-demo-');
  const run = await runBin('edge-agent', ['demo', '--duration', '8', '--dir', dir], { timeoutMs: 45_000 });

  assert.equal(run.code, 0, `exit code\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /^ {2}status: {2}http:\/\/127\.0\.0\.1:\d+\/api\/status$/m, 'the status URL is printed');
  const summary = lastLineJson(run.stdout);
  assert.equal(summary.dir, dir);
  assert.ok(summary.predictions > 0, `predictions: ${summary.predictions}`);
  assert.equal(summary.synced, summary.predictions, 'every prediction reached central');
  assert.ok(summary.framesIn >= summary.predictions, 'no prediction without a frame');
  assert.ok(summary.durationS >= 8 && summary.durationS < 30, `ran for ${summary.durationS} s`);
});
