import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { DEPLOYED_NODE_FLAGS } from '../../bench/deployed-env.js';
import { AARCH64, elfMachine } from '../../helpers/elf.js';
import { defectModelEntry, writeDefectModel } from '../../../agent/demo/defect-model.js';
import { outboxCounts } from '../../helpers/agent-db.js';
import { freePort, startBroker } from '../../helpers/broker.js';
import { REPO_ROOT } from '../../helpers/child.js';
import { partJpeg } from '../../helpers/images.js';
import { lifo } from '../../helpers/teardown.js';
import { tempDir } from '../../helpers/tmp.js';
import { waitFor } from '../../helpers/wait.js';

/*
 * The agent as an arm64 gateway runs it: arm64 Node.js, the production dependencies npm
 * selects for linux/arm64 (onnxruntime-node's arm64 binary, @img/sharp-linux-arm64, an
 * arm64 better-sqlite3), the compiled dist/ and bin/ laid out as in Dockerfile.arm64, under
 * qemu-user emulation. It loads the defect model, classifies images from a hot folder, writes
 * them to SQLite, sends them to a real broker and stops cleanly on SIGTERM.
 * test/deploy/arm64/prepare.sh makes the arm64 tree (network and root needed once);
 * `npm run test:arm64` prepares it and runs this file, which is not part of `npm test`.
 */
const DIR = process.env.EDGE_ARM64_DIR ?? '/var/tmp/edge-agent-arm64';
const QEMU = '/usr/bin/qemu-aarch64-static';
const IMAGES = 4;

function skipReason(): string | undefined {
  if (!existsSync(join(DIR, 'ready'))) return `no arm64 tree in ${DIR}: run test/deploy/arm64/prepare.sh (as root) to prepare it`;
  if (!existsSync(QEMU)) return `${QEMU} missing: apt-get install qemu-user-static`;
  if (readFileSync(join(DIR, 'app', 'package-lock.json'), 'utf8') !== readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) {
    return `the arm64 tree in ${DIR} was made for another package-lock.json: run test/deploy/arm64/prepare.sh again`;
  }
  if (spawnSync('unshare', ['-m', 'true']).status !== 0) return 'cannot create a mount namespace (unshare -m): needs root';
  return undefined;
}


function nativeModules(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.node')) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

// Run on purpose (`npm run test:arm64`), so a missing prerequisite is a failure, not a skip.
const reason = skipReason();
test('arm64: the emulation prerequisites are in place', () => {
  assert.equal(reason, undefined, reason);
});

test('arm64: every native module of the production tree is an AArch64 binary', { skip: reason !== undefined && 'prerequisites missing' }, () => {
  const modules = nativeModules(join(DIR, 'app', 'node_modules'));
  const names = modules.map((m) => m.slice(join(DIR, 'app', 'node_modules').length + 1));
  for (const wanted of ['better-sqlite3/build/Release/better_sqlite3.node', 'onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node', '@img/sharp-linux-arm64/lib/sharp-linux-arm64']) {
    assert.ok(names.some((n) => n.startsWith(wanted)), `${wanted} is in the arm64 tree (have: ${names.join(', ')})`);
  }
  // onnxruntime-node ships every platform's binding in one package; the others are never loaded.
  const loadable = modules.filter((m) => !/onnxruntime-node\/bin\/napi-v\d+\/(?!linux\/arm64\/)/.test(m));
  for (const m of loadable) assert.equal(elfMachine(m), AARCH64, `${m} is AArch64`);
});

test('arm64 under emulation: the agent loads a model, classifies images, writes SQLite, syncs and stops cleanly', { skip: reason !== undefined && 'prerequisites missing', timeout: 420_000 }, async (t) => {
  const host = lifo(t);
  const app = join(DIR, 'app');
  // The code under test is this checkout's, compiled now, laid out as in the image.
  for (const sub of ['dist', 'bin', 'agent']) rmSync(join(app, sub), { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  cpSync(join(REPO_ROOT, 'bin'), join(app, 'bin'), { recursive: true });
  cpSync(join(REPO_ROOT, 'agent/status/page'), join(app, 'agent/status/page'), { recursive: true });
  cpSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));

  const dir = await tempDir(host);
  const broker = await startBroker();
  host.after(() => broker.stop());
  const inbox = join(dir, 'inbox');
  mkdirSync(inbox);
  const modelPath = await writeDefectModel(dir);
  const statusPort = await freePort();
  const db = join(dir, 'agent.db');
  const config = join(dir, 'edge-agent.yaml');
  writeFileSync(
    config,
    stringify({
      deviceId: 'arm64-gw',
      log: { level: 'info' },
      sources: [{ id: 'cam1', type: 'folder', path: inbox, stableMs: 200 }],
      models: [defectModelEntry(modelPath)],
      buffer: { path: db },
      broker: { url: broker.url, protocolVersion: broker.protocolVersion },
      status: { port: statusPort },
    }),
  );
  for (let i = 0; i < IMAGES; i++) writeFileSync(join(inbox, `part-${i}.jpg`), await partJpeg(i));

  const fake = join(DIR, 'fakecpu');
  const sysroot = join(DIR, 'sysroot');
  const script = [
    `mount --bind ${fake}/cpuinfo /proc/cpuinfo`,
    `mount --bind ${fake}/sys /sys/devices/system/cpu`,
    `exec ${QEMU} -L ${sysroot} ${sysroot}/usr/bin/node ${DEPLOYED_NODE_FLAGS.join(' ')} ${app}/bin/edge-agent.js run --config ${config}`,
  ].join(' && ');
  const child = spawn('unshare', ['-m', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  host.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const status = `http://127.0.0.1:${statusPort}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  await waitFor('the arm64 agent to be ready', async () => {
    assert.ok(alive(), `the agent exited early:\n${out.slice(-3000)}`);
    return fetch(`${status}/readyz`).then((r) => r.ok, () => false);
  }, 300_000, 500);
  await waitFor(`${IMAGES} predictions committed and acknowledged by the broker`, () => {
    if (!existsSync(db)) return false;
    const c = outboxCounts(db);
    return c.total === IMAGES && c.unsent === 0;
  }, 120_000, 500);
  const api = (await (await fetch(`${status}/api/status`)).json()) as { models: { name: string; loaded: boolean; predictions: number }[] };
  assert.deepEqual(api.models.map((m) => [m.name, m.loaded, m.predictions]), [['defect', true, IMAGES]]);
  assert.equal(readdirSync(join(inbox, 'done')).length, IMAGES, 'every image moved to done/');
  assert.equal(elfMachine(join(sysroot, 'usr/bin/node')), AARCH64, 'the node that ran it is AArch64');

  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 120_000))]);
  assert.equal(code, 0, `exit after SIGTERM:\n${out.slice(-3000)}`);
});
