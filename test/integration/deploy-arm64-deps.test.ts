import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AARCH64, elfMachine } from '../helpers/elf.js';
import { REPO_ROOT } from '../helpers/child.js';

/*
 * Does the production dependency tree resolve for linux/arm64 (glibc), as Dockerfile.arm64
 * builds it? Read from the lockfile (what `npm ci` installs) and the installed packages:
 * every native module must have an arm64 binary or build from source, and any new native
 * module fails this test until someone says how it gets its arm64 build.
 */

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  hasInstallScript?: boolean;
  optionalDependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockEntry> };
const production = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && !entry.dev);

function fits(list: string[] | undefined, value: string): boolean {
  if (!list) return true;
  if (list.includes(`!${value}`)) return false;
  return list.some((v) => !v.startsWith('!')) ? list.includes(value) : true;
}

/** A platform-specific package npm would install on linux/arm64 with glibc. */
function forLinuxArm64(entry: LockEntry): boolean {
  return fits(entry.os, 'linux') && fits(entry.cpu, 'arm64') && fits(entry.libc, 'glibc');
}


function nativeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && (e.name.endsWith('.node') || e.name === 'binding.gyp')) out.push(join(e.parentPath, e.name));
  }
  return out;
}

/** How each native package of the production tree gets its linux-arm64 build. */
const NATIVE: Record<string, (dir: string) => void> = {
  'node_modules/onnxruntime-node': (dir) => {
    // The npm package itself carries the CPU build for every platform.
    const napi = readdirSync(join(dir, 'bin')).filter((d) => /^napi-v\d+$/.test(d));
    assert.ok(napi.length > 0, 'onnxruntime-node has bin/napi-v*/');
    for (const v of napi) {
      const arm = join(dir, 'bin', v, 'linux', 'arm64');
      for (const f of ['onnxruntime_binding.node', 'libonnxruntime.so.1']) {
        assert.ok(existsSync(join(arm, f)), `onnxruntime-node ships bin/${v}/linux/arm64/${f}`);
        assert.equal(elfMachine(join(arm, f)), AARCH64, `bin/${v}/linux/arm64/${f} is AArch64`);
      }
    }
    // Its install script would fetch GPU builds; the CPU build above is all the agent uses.
    assert.match(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8'), /^onnxruntime-node-install=skip$/m);
  },
  'node_modules/better-sqlite3': (dir) => {
    // `prebuild-install || node-gyp rebuild`: a prebuilt linux-arm64 binary from its releases, or
    // compiled from the SQLite amalgamation it bundles with the build stage's toolchain.
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: { install: string } };
    assert.match(pkg.scripts.install, /prebuild-install \|\| node-gyp rebuild/);
    assert.ok(existsSync(join(dir, 'binding.gyp')), 'better-sqlite3 can be built from source');
    assert.ok(readdirSync(join(dir, 'deps')).some((f) => /sqlite3/.test(f)), 'better-sqlite3 bundles SQLite');
    const docker = readFileSync(join(REPO_ROOT, 'Dockerfile.arm64'), 'utf8');
    const buildStage = docker.slice(docker.indexOf(' AS build'), docker.indexOf('\nFROM ', docker.indexOf(' AS build')));
    assert.match(buildStage, /apt-get install[^\n]*python3 make g\+\+/, 'the build stage has the toolchain to compile it');
  },
  'node_modules/koffi': (dir) => {
    // The binary comes from its platform package (@koromix/koffi-linux-arm64, locked with the
    // other platform packages); the install script only checks that it loads and compiles
    // from source with CMake when it does not.
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: { install: string }; optionalDependencies: Record<string, string> };
    assert.match(pkg.scripts.install, /--prebuild/);
    assert.ok(pkg.optionalDependencies['@koromix/koffi-linux-arm64'], 'koffi names a linux-arm64 platform package');
    assert.ok(lock.packages['node_modules/@koromix/koffi-linux-arm64'], '@koromix/koffi-linux-arm64 is locked');
  },
  'node_modules/sharp': (dir) => {
    // The binding lives in @img/sharp-<platform>, checked with the other platform packages.
    assert.ok(!nativeFiles(join(dir, 'lib')).some((f) => f.endsWith('.node')), 'sharp itself ships no binary');
  },
};

test('the lockfile is the npm 7+ format that records os, cpu and libc of platform packages', () => {
  assert.ok(lock.lockfileVersion >= 2, `lockfileVersion ${lock.lockfileVersion}`);
});

test('every package with platform-specific optional dependencies has a linux-arm64 (glibc) one in the lockfile', () => {
  let checked = 0;
  for (const [path, entry] of production) {
    if (!forLinuxArm64(entry)) continue;
    const platformDeps = Object.keys(entry.optionalDependencies ?? {})
      .map((name) => [name, lock.packages[`node_modules/${name}`] ?? lock.packages[`${path}/node_modules/${name}`]] as const)
      .filter(([, dep]) => dep && (dep.os || dep.cpu));
    if (platformDeps.length === 0) continue;
    checked++;
    const arm = platformDeps.filter(([, dep]) => forLinuxArm64(dep!));
    assert.ok(arm.length > 0, `${path} has a linux-arm64 build among ${platformDeps.map(([n]) => n).join(', ')}`);
    for (const [name, dep] of arm) {
      assert.match(dep!.integrity ?? '', /^sha512-/, `${name} is pinned by its integrity hash`);
      assert.equal(dep!.version, entry.optionalDependencies![name], `${name} is the version ${path} asks for`);
      assert.ok(!dep!.dev, `${name} is a production dependency`);
    }
  }
  assert.ok(checked >= 1, 'sharp at least has platform packages');
  for (const name of ['@img/sharp-linux-arm64', '@img/sharp-libvips-linux-arm64']) {
    assert.ok(lock.packages[`node_modules/${name}`], `${name} is locked`);
  }
});

test('every native module of the production tree has a known way to its linux-arm64 build', () => {
  const unknown: string[] = [];
  const seen = new Set<string>();
  for (const [path, entry] of production) {
    const dir = join(REPO_ROOT, path);
    if (!forLinuxArm64(entry)) continue; // another platform's package: never installed on the gateway
    const files = existsSync(dir) ? nativeFiles(dir).filter((f) => !f.slice(dir.length).includes('/node_modules/')) : [];
    const installs = entry.hasInstallScript === true;
    if (files.length === 0 && !installs) continue;
    const check = NATIVE[path];
    if (check) {
      check(dir);
      seen.add(path);
      continue;
    }
    if (installs && files.length === 0) {
      // An install script that builds nothing native (protobufjs 6 prints a version notice).
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
      const script = [pkg.scripts?.preinstall, pkg.scripts?.install, pkg.scripts?.postinstall].filter(Boolean).join(' ; ');
      if (/^node [\w./-]+$/.test(script) && !/gyp|prebuild|cmake|make/.test(script)) continue;
    }
    unknown.push(`${path} (${files.map((f) => f.slice(dir.length + 1)).join(', ') || 'install script'})`);
  }
  assert.deepEqual(unknown, [], 'native modules without a known linux-arm64 build: add how they get one');
  assert.deepEqual([...seen].sort(), Object.keys(NATIVE).sort(), 'every known native module is still in the tree');
});
