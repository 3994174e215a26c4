import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from '../bench/deployed-env.js';
import { REPO_ROOT } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

const UNIT = join(REPO_ROOT, 'deploy/systemd/edge-agent.service');
const INSTALL = join(REPO_ROOT, 'deploy/install.sh');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** The unit's `key=value` lines per section; repeated keys keep every value. */
function unitFile(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

test('the systemd unit passes systemd-analyze verify and has the hardening and restart policy', { skip: !existsSync(SYSTEMD_ANALYZE) && `${SYSTEMD_ANALYZE} missing` }, () => {
  const verify = spawnSync(SYSTEMD_ANALYZE, ['verify', UNIT], { encoding: 'utf8' });
  assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stderr}`);
  assert.equal(verify.stderr.trim(), '', 'no warnings');

  const unit = unitFile(readFileSync(UNIT, 'utf8'));
  const one = (key: string) => {
    const v = unit.get(key);
    assert.ok(v, `${key} is set`);
    return v[v.length - 1]!;
  };
  assert.equal(one('Service.User'), 'edge-agent');
  assert.equal(one('Service.StateDirectory'), 'edge-agent');
  assert.equal(one('Service.ProtectSystem'), 'strict');
  assert.equal(one('Service.NoNewPrivileges'), 'yes');
  assert.equal(one('Service.CapabilityBoundingSet'), '', 'no capabilities at all');
  assert.equal(one('Service.AmbientCapabilities'), '');
  assert.equal(one('Service.PrivateTmp'), 'yes');
  assert.deepEqual(one('Service.RestrictAddressFamilies').split(/\s+/).sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  assert.equal(one('Service.Restart'), 'on-failure');
  assert.ok(Number(one('Unit.StartLimitBurst')) > 1 && Number(one('Unit.StartLimitIntervalSec')) > 0, 'a start limit');
  // The agent drains within shutdown.deadlineMs (10 s by default): systemd must wait longer before SIGKILL.
  assert.ok(Number.parseInt(one('Service.TimeoutStopSec'), 10) > 10, 'TimeoutStopSec above the drain deadline');
  assert.equal(one('Service.KillSignal'), 'SIGTERM');
  // With the V8 settings the frame and memory benchmarks measure the agent with.
  assert.equal(one('Service.ExecStart'), ['/usr/bin/node', ...DEPLOYED_NODE_FLAGS, '/opt/edge-agent/bin/edge-agent.js run --config /etc/edge-agent/edge-agent.yaml'].join(' '));
  assert.equal(one('Install.WantedBy'), 'multi-user.target');
  // The allocator setting the idle-memory benchmark measures the agent with.
  assert.ok(unit.get('Service.Environment')?.includes(`MALLOC_MMAP_THRESHOLD_=${DEPLOYED_ENV.MALLOC_MMAP_THRESHOLD_}`), 'the unit sets the benchmarked allocator threshold');

  const security = spawnSync(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', UNIT], { encoding: 'utf8' });
  const score = /Overall exposure level for edge-agent\.service: ([\d.]+)/.exec(security.stdout);
  assert.ok(score, `systemd-analyze security printed a score: ${security.stdout.slice(-500)}${security.stderr}`);
  assert.ok(Number(score[1]) <= 2, `exposure ${score[1]} is at most 2.0 ("OK" on systemd's 0–10 scale)`);
});

/** Every path under `root` with its type, mode, owner and content hash (or link target). */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = p.slice(root.length);
      const what = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : st.isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16);
      out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/**
 * A built tree as `npm ci && npm run build && npm prune --omit=dev` leaves it: this checkout's
 * code compiled by `npm run build`, and its node_modules (linked: the copy keeps the link).
 */
function builtSource(dir: string): string {
  const src = join(dir, 'src');
  mkdirSync(src);
  const build = spawnSync('npm', ['run', 'build', '--', '--outDir', join(src, 'dist')], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, `npm run build: ${build.stdout}${build.stderr}`);
  cpSync(join(REPO_ROOT, 'bin'), join(src, 'bin'), { recursive: true });
  cpSync(join(REPO_ROOT, 'agent/status/page'), join(src, 'agent/status/page'), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'README.md']) cpSync(join(REPO_ROOT, f), join(src, f));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(src, 'node_modules'));
  return src;
}

/** An empty system: the account files useradd expects, and video and gpio groups as on a Raspberry Pi OS. */
function emptyRoot(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nvideo:x:44:\ngpio:x:997:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  return root;
}

const isRoot = process.getuid?.() === 0;

test('install.sh installs user, code, config, state and the enabled unit, and a second run changes nothing', { skip: !isRoot && 'install.sh adds a system user and chowns: needs root', timeout: 240_000 }, async (t) => {
  const dir = await tempDir(t);
  const src = builtSource(dir);
  const root = emptyRoot(dir);
  const install = () => execFileSync('bash', [INSTALL, '--source', src, '--root', root], { encoding: 'utf8' });

  const first = install();
  assert.match(first, /wrote .*etc\/edge-agent\/edge-agent\.yaml from the example/);
  const once = snapshot(root);
  const second = install();
  assert.doesNotMatch(second, /wrote/, 'the config is written once');
  assert.deepEqual(snapshot(root), once, 'a second run leaves the same files, modes and owners');

  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
  const user = /^edge-agent:x:(\d+):(\d+):[^:]*:\/var\/lib\/edge-agent:\/usr\/sbin\/nologin$/m.exec(passwd);
  assert.ok(user, `a system user without a login shell:\n${passwd}`);
  const [uid, gid] = [Number(user[1]), Number(user[2])];
  assert.ok(uid < 1000, 'a system uid');
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^gpio:x:997:edge-agent$/m, 'in the gpio group for the status LED');
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^video:x:44:edge-agent$/m, 'in the video group for USB cameras');
  assert.equal(passwd.split('\n').filter((l) => l.startsWith('edge-agent:')).length, 1);

  const stat = (p: string) => lstatSync(join(root, p));
  const owner = (p: string) => `${stat(p).uid}:${stat(p).gid} ${(stat(p).mode & 0o777).toString(8)}`;
  assert.equal(owner('var/lib/edge-agent'), `${uid}:${gid} 750`, 'state belongs to the service user');
  assert.equal(owner('var/lib/edge-agent/pki'), `${uid}:${gid} 750`);
  assert.equal(owner('etc/edge-agent'), `0:${gid} 750`);
  assert.equal(owner('etc/edge-agent/edge-agent.yaml'), `0:${gid} 640`, 'config readable by the service, writable by root only');
  assert.equal(owner('etc/edge-agent/edge-agent.env'), `0:${gid} 640`);
  assert.equal(owner('etc/edge-agent/pki'), `0:${gid} 750`, 'a place for the broker certificates');
  assert.equal(owner('opt/edge-agent/dist/agent/cli.js'), '0:0 644', 'code is root-owned, read-only to the service');
  assert.equal(readFileSync(join(root, 'etc/edge-agent/edge-agent.yaml'), 'utf8'), readFileSync(join(REPO_ROOT, 'deploy/edge-agent.example.yaml'), 'utf8'));
  assert.equal(readFileSync(join(root, 'etc/systemd/system/edge-agent.service'), 'utf8'), readFileSync(UNIT, 'utf8'));
  assert.equal(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants/edge-agent.service')), '/etc/systemd/system/edge-agent.service', 'enabled');
  assert.equal(readlinkSync(join(root, 'usr/local/bin/edge-agent')), '/opt/edge-agent/bin/edge-agent.js');
  // The installed code runs, from dist/ (no TypeScript at run time), and accepts the installed config.
  const installed = join(root, 'opt/edge-agent/bin/edge-agent.js');
  const check = spawnSync(process.execPath, [installed, 'check-config', '--config', join(root, 'etc/edge-agent/edge-agent.yaml')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /^deviceId: line3-gw01$/m);
  const version = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(execFileSync(process.execPath, [installed, '--version'], { encoding: 'utf8' }).trim(), version.version);

  // An operator's config and secrets survive a reinstall; new code replaces old.
  writeFileSync(join(root, 'etc/edge-agent/edge-agent.yaml'), 'deviceId: press3-gw\n');
  writeFileSync(join(root, 'etc/edge-agent/pki/ca.crt'), 'the fleet CA\n');
  writeFileSync(join(src, 'dist/agent/cli.js'), 'export async function main() { console.log("new version"); return 0; }\n');
  writeFileSync(join(root, 'opt/edge-agent/dist/stale.js'), 'left over from an older version\n');
  install();
  assert.equal(readFileSync(join(root, 'etc/edge-agent/edge-agent.yaml'), 'utf8'), 'deviceId: press3-gw\n');
  assert.equal(readFileSync(join(root, 'etc/edge-agent/pki/ca.crt'), 'utf8'), 'the fleet CA\n');
  assert.equal(execFileSync(process.execPath, [installed], { encoding: 'utf8' }).trim(), 'new version');
  assert.ok(!existsSync(join(root, 'opt/edge-agent/dist/stale.js')), 'files of the old version are gone');
  assert.ok(!existsSync(join(root, 'opt/edge-agent.old')) && !existsSync(join(root, 'opt/edge-agent.new')));
});

test('install.sh refuses an unbuilt tree and unknown arguments with a reason', { skip: !isRoot && 'needs root' }, async (t) => {
  const dir = await tempDir(t);
  const root = emptyRoot(dir);
  const unbuilt = spawnSync('bash', [INSTALL, '--source', REPO_ROOT, '--root', root], { encoding: 'utf8' });
  if (!existsSync(join(REPO_ROOT, 'dist/agent/cli.js'))) {
    assert.equal(unbuilt.status, 1);
    assert.match(unbuilt.stderr, /dist\/agent\/cli\.js is missing: build first \(npm ci && npm run build && npm prune --omit=dev\)/);
  }
  const bad = spawnSync('bash', [INSTALL, '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown argument "--bogus"/);
  const now = spawnSync('bash', [INSTALL, '--root', root, '--now'], { encoding: 'utf8' });
  assert.match(now.stderr, /--now cannot start a service inside --root/);
  assert.match(spawnSync('bash', [INSTALL, '--help'], { encoding: 'utf8' }).stdout, /--source DIR/);
});
