import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/child.js';
import { tempDir } from '../helpers/tmp.js';

/*
 * The operator guide (the README's "Install on a gateway" and deploy/README.md) cannot rot:
 * every command in its `sh` blocks is either an `edge-agent`/`edgectl` command whose options
 * the real CLI documents and whose subcommand a test runs, or one of the commands below, each
 * with the test (or .ci/run) that covers it. A new command in the guide fails this test until
 * it is covered.
 */

interface Covered {
  command: RegExp;
  /** The test file or script that covers it, and strings it must contain. */
  by: string;
  mentions: string[];
  /** false: the test checks what the command works with, but cannot run it here (said in `why`). */
  runs: boolean;
  why?: string;
  /** A script whose --help must list every option the guide uses. */
  help?: string;
}

const GATEWAY_TEST = 'test/integration/deploy-gateway.test.ts';
const CENTRAL_TEST = 'test/integration/deploy-central.test.ts';
const DOCKERFILE_TEST = 'test/integration/deploy-dockerfile.test.ts';
const NO_SYSTEMD = 'no systemd runs in CI: the unit passes systemd-analyze verify and install.sh enables it';
const NO_DOCKER = 'no container engine runs in CI: Dockerfile.arm64 and compose.yaml are checked without one, and what they run is run directly';

const COVERED: Covered[] = [
  { command: /^npm ci$/, by: '.ci/run', mentions: ['npm ci'], runs: true },
  { command: /^npm run build$/, by: GATEWAY_TEST, mentions: ["'run', 'build'"], runs: true },
  { command: /^npm prune --omit=dev$/, by: 'test/deploy/arm64/prepare.sh', mentions: ['--omit=dev'], runs: false, why: 'the production-only tree is installed with npm ci --omit=dev (same result) and checked by deploy-arm64-deps' },
  { command: /^deploy\/install\.sh( |$)/, by: GATEWAY_TEST, mentions: ['deploy/install.sh'], runs: true, help: 'deploy/install.sh' },
  { command: /^sudoedit \/etc\/edge-agent\/edge-agent\.yaml$/, by: GATEWAY_TEST, mentions: ["'etc/edge-agent/edge-agent.yaml'"], runs: false, why: 'an editor: the test checks install.sh leaves the file there, root-owned and readable by the service' },
  { command: /^systemctl (start|status) edge-agent$/, by: GATEWAY_TEST, mentions: ['systemd-analyze', 'multi-user.target.wants/edge-agent.service'], runs: false, why: NO_SYSTEMD },
  { command: /^journalctl -u edge-agent -f$/, by: GATEWAY_TEST, mentions: ['systemd-analyze'], runs: false, why: NO_SYSTEMD },
  { command: /^curl -fsS http:\/\/127\.0\.0\.1:8080\/(readyz|api\/status)$/, by: 'test/integration/status-api.test.ts', mentions: ['/readyz', '/api/status'], runs: true },
  { command: /^docker buildx build --platform linux\/arm64 -f Dockerfile\.arm64 /, by: DOCKERFILE_TEST, mentions: ['Dockerfile.arm64'], runs: false, why: NO_DOCKER },
  { command: /^docker run .* -v \/etc\/edge-agent:\/etc\/edge-agent:ro -v edge-agent-state:\/var\/lib\/edge-agent -p 8080:8080 /, by: DOCKERFILE_TEST, mentions: ["'/var/lib/edge-agent', '/etc/edge-agent'", "'8080'"], runs: false, why: NO_DOCKER },
  { command: /^deploy\/central\/make-certs\.sh /, by: CENTRAL_TEST, mentions: ['make-certs.sh'], runs: true, help: 'deploy/central/make-certs.sh' },
  { command: /^echo "POSTGRES_PASSWORD=\$\(openssl rand -hex 24\)" > deploy\/central\/\.env$/, by: CENTRAL_TEST, mentions: ['POSTGRES_PASSWORD'], runs: false, why: 'compose.yaml requires the variable (checked); writing a file is not worth a test' },
  { command: /^chown 10001:10001 deploy\/central\/pki\/edgectl-central\.key$/, by: DOCKERFILE_TEST, mentions: ['--uid 10001'], runs: false, why: 'the image user is uid 10001 (checked)' },
  { command: /^docker compose -f deploy\/central\/compose\.yaml up -d --build$/, by: CENTRAL_TEST, mentions: ['compose.yaml', "'ingest-1', 'ingest-2'"], runs: false, why: NO_DOCKER },
];

interface GuideCommand {
  where: string;
  text: string;
}

/** The guide's text: the README's install section and all of deploy/README.md. */
function guides(): { file: string; text: string }[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Install on a gateway\n');
  assert.ok(start >= 0, 'the README has its "Install on a gateway" section');
  const end = readme.indexOf('\n## ', start + 1);
  return [
    { file: 'README.md', text: readme.slice(start, end < 0 ? undefined : end) },
    { file: 'deploy/README.md', text: readFileSync(join(REPO_ROOT, 'deploy/README.md'), 'utf8') },
  ];
}

/** Commands of the `sh` blocks: continuations joined, variables set in the block expanded, `a && b` split. */
function commands(file: string, text: string, fence = 'sh'): GuideCommand[] {
  const out: GuideCommand[] = [];
  const vars: Record<string, string> = {};
  let inBlock = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (!inBlock) {
      inBlock = line.trim() === `\`\`\`${fence}`;
      continue;
    }
    if (line.trim() === '```') {
      inBlock = false;
      continue;
    }
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    line = line.trim();
    if (!line || line.startsWith('#')) continue;
    const assignment = /^([A-Z_][A-Z0-9_]*)="([^"]*)"$/.exec(line);
    if (assignment) {
      vars[assignment[1]!] = assignment[2]!;
      continue;
    }
    const expanded = line.replace(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g, (whole, name: string) => vars[name] ?? whole);
    for (const part of expanded.split(' && ')) out.push({ where: `${file}: ${line.slice(0, 60)}`, text: part.trim().replace(/^sudo (-u edge-agent )?/, '') });
  }
  return out;
}

/** Words of a command line, double quotes honoured. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

const testFiles = (() => {
  const out: string[] = [];
  for (const root of ['test/unit', 'test/integration', 'test/fault']) {
    for (const e of readdirSync(join(REPO_ROOT, root), { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.test.ts')) out.push(join(e.parentPath, e.name));
    }
  }
  return out.map((f) => ({ file: f.slice(REPO_ROOT.length + 1), text: readFileSync(f, 'utf8') }));
})();

const helpCache = new Map<string, string>();
function helpOf(bin: string): string {
  if (!helpCache.has(bin)) {
    const script = bin === 'edge-agent' || bin === 'edgectl' ? join(REPO_ROOT, 'bin', `${bin}.js`) : join(REPO_ROOT, bin);
    const cmd = script.endsWith('.js') ? process.execPath : 'bash';
    helpCache.set(bin, execFileSync(cmd, [script, '--help'], { encoding: 'utf8', cwd: REPO_ROOT }));
  }
  return helpCache.get(bin)!;
}

/** The parts of a usage text about `bin sub...`, with edgectl's shared broker options. */
function helpFor(bin: string, sub: string[]): string {
  const sections: string[][] = [];
  for (const line of helpOf(bin).split('\n')) {
    if (/^\s*(edgectl|edge-agent) \S/.test(line) || /^\s*broker options:/.test(line) || sections.length === 0) sections.push([]);
    sections.at(-1)!.push(line);
  }
  const head = `${bin} ${sub.join(' ')}`;
  const mine = sections.filter((s) => s[0]!.trim().startsWith(head));
  const broker = sections.filter((s) => s[0]!.trim().startsWith('broker options:'));
  return [...mine, ...broker].map((s) => s.join('\n')).join('\n');
}

function flagsOf(ws: string[]): string[] {
  return ws.filter((w) => w.startsWith('--')).map((w) => w.split('=')[0]!);
}

const MULTI = new Set(['rollout', 'samples', 'opcua', 'models']);

test('every command of the operator guide is run by a test or .ci/run, with options its program documents', () => {
  const all = guides().flatMap((g) => commands(g.file, g.text));
  assert.ok(all.length >= 20, `the guide has its commands (${all.length})`);
  const checkedOnly: string[] = [];
  for (const c of all) {
    const ws = words(c.text);
    const bin = ws[0]!;
    if (bin === 'edge-agent' || bin === 'edgectl') {
      const sub = [ws[1]!];
      if (MULTI.has(ws[1]!) && ws[2] && !ws[2].startsWith('-')) sub.push(ws[2]);
      const help = helpFor(bin, sub);
      assert.ok(help, `${c.where}: \`${bin} --help\` documents "${bin} ${sub.join(' ')}"`);
      for (const flag of flagsOf(ws)) {
        assert.ok(new RegExp(`${flag}(?![\\w-])`).test(help), `${c.where}: ${flag} is an option of ${bin} ${sub.join(' ')} (per its --help)`);
      }
      // Tests run the bins with runBin('edgectl', [...]) / BinProcess, or a helper named like the bin.
      const runsBin = (text: string) => text.includes(`'${bin}'`) || text.includes(`${bin}(`);
      const runner = testFiles.find((f) => runsBin(f.text) && sub.every((s) => f.text.includes(`'${s}'`)));
      assert.ok(runner, `${c.where}: a test runs ${bin} ${sub.join(' ')}`);
      continue;
    }
    const covered = COVERED.find((k) => k.command.test(c.text));
    assert.ok(covered, `${c.where}: "${c.text}" is not covered: run it in a test (or .ci/run) and add it to COVERED in test/integration/deploy-guide.test.ts`);
    const by = readFileSync(join(REPO_ROOT, covered.by), 'utf8');
    for (const m of covered.mentions) assert.ok(by.includes(m), `${covered.by} covers "${c.text}" (mentions ${m})`);
    if (covered.help) {
      const help = helpOf(covered.help);
      for (const flag of flagsOf(ws)) assert.ok(new RegExp(`${flag}(?![\\w-])`).test(help), `${c.where}: ${flag} is an option of ${covered.help} (per its --help)`);
    }
    if (!covered.runs) checkedOnly.push(`${c.text.slice(0, 70)} — ${covered.why}`);
  }
  // Said out loud in the test output: what the guide asks that CI only checks.
  for (const line of new Set(checkedOnly)) console.log(`# checked, not run: ${line}`);
});

test('every table entry is still used by the guide', () => {
  const all = guides().flatMap((g) => commands(g.file, g.text));
  for (const k of COVERED) assert.ok(all.some((c) => k.command.test(c.text)), `${k.command} matches a command of the guide`);
  for (const k of COVERED) assert.ok(k.runs || k.why, `${k.command}: say why it is not run`);
});

test("the guide's systemd drop-in is valid together with the unit", { skip: !existsSync('/usr/bin/systemd-analyze') && 'systemd-analyze missing' }, async (t) => {
  const guide = readFileSync(join(REPO_ROOT, 'deploy/README.md'), 'utf8');
  const block = /```ini\n([\s\S]*?)```/.exec(guide);
  assert.ok(block, 'deploy/README.md has the drop-in');
  const dropIn = block[1]!;
  assert.match(dropIn, /^\[Service\]$/m);
  const unit = readFileSync(join(REPO_ROOT, 'deploy/systemd/edge-agent.service'), 'utf8');
  const dir = await tempDir(t);
  // A drop-in's [Service] lines apply after the unit's: appended, systemd reads them the same way.
  const merged = join(dir, 'edge-agent.service');
  writeFileSync(merged, `${unit}\n${dropIn}`);
  const verify = spawnSync('/usr/bin/systemd-analyze', ['verify', merged], { encoding: 'utf8' });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '');
});
