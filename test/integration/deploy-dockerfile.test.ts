import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEPLOYED_ENV, DEPLOYED_NODE_FLAGS } from '../bench/deployed-env.js';
import { REPO_ROOT } from '../helpers/child.js';

/*
 * No container engine runs in CI, so Dockerfile.arm64 is checked for what can be checked
 * without one: its stages, user, volumes, init, health check and labels, that every file it
 * copies exists and passes .dockerignore, and that the runtime layout is the one the arm64
 * smoke test runs (package.json, bin/, dist/, node_modules/, agent/status/page/).
 */

interface Instruction {
  op: string;
  args: string;
}

function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const sp = l.indexOf(' ');
      return { op: l.slice(0, sp).toUpperCase(), args: l.slice(sp + 1).trim() };
    });
}

const docker = instructions(readFileSync(join(REPO_ROOT, 'Dockerfile.arm64'), 'utf8'));
const stages: Instruction[][] = [];
for (const i of docker) {
  if (i.op === 'FROM') stages.push([]);
  stages.at(-1)?.push(i);
}
const [build, run] = stages as [Instruction[], Instruction[]];
const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op).map((i) => i.args);
const one = (stage: Instruction[], op: string) => {
  const found = all(stage, op);
  assert.equal(found.length, 1, `one ${op} in the stage`);
  return found[0]!;
};

/** What survives .dockerignore, for a path relative to the repository root. */
function inContext(path: string): boolean {
  let keep = true;
  for (const raw of readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = (negate ? line.slice(1) : line).replace(/\/$/, '');
    const matches = pattern === '**' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) keep = negate;
  }
  return keep;
}

test('Dockerfile.arm64: a build stage with dev dependencies, a run stage with production ones, on a slim Node LTS base', () => {
  assert.equal(stages.length, 2);
  const args = Object.fromEntries(docker.filter((i) => i.op === 'ARG' && i.args.includes('=')).map((i) => i.args.split('=') as [string, string]));
  const major = Number(args.NODE_VERSION);
  assert.ok(major >= 20 && major % 2 === 0, `NODE_VERSION ${args.NODE_VERSION} is an LTS line (even, 20 or newer)`);
  for (const stage of stages) assert.match(stage[0]!.args, /^node:\$\{NODE_VERSION\}-bookworm-slim\b/);
  assert.match(build[0]!.args, / AS build$/);

  const buildRuns = all(build, 'RUN').join('\n');
  assert.match(buildRuns, /npm ci\b/, 'all dependencies to build');
  assert.match(buildRuns, /npm run build/);
  assert.match(buildRuns, /npm prune --omit=dev/, 'then only production dependencies');
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json');

  for (const copy of all(build, 'COPY')) {
    const parts = copy.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src}: exists`);
      assert.ok(inContext(src), `COPY ${src}: not excluded by .dockerignore`);
    }
  }
  // Everything tsconfig.build.json compiles is copied in.
  const includes = (JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
  for (const dir of includes) assert.ok(all(build, 'COPY').some((c) => c.startsWith(`${dir} `)), `${dir}/ is copied for the build`);
  assert.ok(!inContext('node_modules') && !inContext('test') && !inContext('.git') && !inContext('dist'), 'the context leaves out node_modules, tests, git and local builds');
});

test('Dockerfile.arm64: non-root, volumes for state and config, tini as init, a /readyz health check, OCI labels', () => {
  const copies = all(run, 'COPY').map((c) => c.replace('--from=build ', '').split(/\s+/)[1]);
  assert.deepEqual(copies.sort(), ['./agent/status/page', './bin', './dist', './node_modules', './package.json'], 'the layout bin/launch.js and the status page expect');

  assert.match(all(run, 'RUN').join('\n'), /useradd --system --uid 10001 /);
  assert.equal(one(run, 'USER'), 'edge-agent');
  assert.deepEqual(JSON.parse(one(run, 'VOLUME')), ['/var/lib/edge-agent', '/etc/edge-agent']);

  const entry = JSON.parse(one(run, 'ENTRYPOINT')) as string[];
  assert.deepEqual(entry.slice(0, 2), ['/usr/bin/tini', '--'], 'tini forwards SIGTERM and reaps children');
  assert.match(all(run, 'RUN').join('\n'), /apt-get install -y --no-install-recommends tini \$\(\[ "\$FFMPEG" = 1 \] && echo ffmpeg\)/, 'tini, and ffmpeg for the rtsp, usb and video cameras unless FFMPEG=0');
  assert.deepEqual(entry.slice(2), ['node', ...DEPLOYED_NODE_FLAGS, '/app/bin/edge-agent.js'], 'the agent, with the benchmarked V8 settings');
  assert.deepEqual(JSON.parse(one(run, 'CMD')), ['run', '--config', '/etc/edge-agent/edge-agent.yaml']);

  const health = one(run, 'HEALTHCHECK');
  assert.match(health, /CMD \["node", "-e", .*process\.env\.EDGE_AGENT_READYZ_URL/);
  assert.match(one(run, 'ENV'), /EDGE_AGENT_READYZ_URL=http:\/\/127\.0\.0\.1:8080\/readyz/);
  assert.ok(one(run, 'ENV').includes(`MALLOC_MMAP_THRESHOLD_=${DEPLOYED_ENV.MALLOC_MMAP_THRESHOLD_}`), 'the image sets the benchmarked allocator threshold');
  assert.equal(one(run, 'EXPOSE'), '8080');

  const labels = one(run, 'LABEL');
  for (const key of ['version', 'source', 'revision', 'title']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`), `OCI label ${key}`);
  assert.match(labels, /image\.version="\$\{VERSION\}"/);
  assert.match(labels, /image\.source="\$\{SOURCE\}"/);
});
