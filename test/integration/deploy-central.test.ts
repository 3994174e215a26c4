import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { BinProcess, REPO_ROOT } from '../helpers/child.js';
import type { TestPki } from '../helpers/certs.js';
import { freePort } from '../helpers/broker.js';
import { DEPLOY_CONF, startFleetBroker } from '../helpers/fleet-broker.js';
import { pgSchema } from '../helpers/postgres.js';
import { prediction, startSyncDevice } from '../helpers/sync-device.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const CENTRAL = join(REPO_ROOT, 'deploy/central');
const COMPOSE = join(CENTRAL, 'compose.yaml');
const MAKE_CERTS = join(CENTRAL, 'make-certs.sh');
const MOSQUITTO = '/usr/sbin/mosquitto';

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  entrypoint?: string[];
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
}
const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };

function makeCerts(out: string, ...args: string[]): string {
  return execFileSync('bash', [MAKE_CERTS, '--out', out, ...args], { encoding: 'utf8' });
}

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[`${p.slice(dir.length + 1)} ${(statSync(p).mode & 0o777).toString(8)}`] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8' });
}

test('make-certs.sh: a CA, the broker, central and devices; re-running keeps everything and adds what is new', async (t) => {
  const pki = join(await tempDir(t), 'pki');
  const first = makeCerts(pki, '--broker-host', 'broker.plant-north.example', '--broker-host', '10.0.0.5', '--device', 'gw-line3-01');
  assert.match(first, /made .*ca\.crt/);
  const once = files(pki);
  assert.deepEqual(Object.keys(once).sort(), ['broker.crt 644', 'broker.key 600', 'ca.crt 644', 'ca.key 600', 'ca.srl 600', 'devices/gw-line3-01.crt 644', 'devices/gw-line3-01.key 600', 'edgectl-central.crt 644', 'edgectl-central.key 600']);

  assert.equal(makeCerts(pki, '--broker-host', 'broker.plant-north.example', '--device', 'gw-line3-01'), '', 'nothing to make');
  assert.deepEqual(files(pki), once, 'a second run changes nothing');
  assert.match(makeCerts(pki, '--broker-host', 'broker.plant-north.example', '--device', 'gw-line3-01', '--device', 'gw-line3-02'), /^made .*devices\/gw-line3-02\.crt \(CN=gw-line3-02\)\n$/);
  const twice = files(pki);
  for (const [k, v] of Object.entries(once)) if (!k.startsWith('ca.srl')) assert.equal(twice[k], v, `${k} kept`);

  for (const leaf of ['broker', 'edgectl-central', 'devices/gw-line3-01', 'devices/gw-line3-02']) {
    assert.match(openssl('verify', '-CAfile', join(pki, 'ca.crt'), join(pki, `${leaf}.crt`)), /: OK/, `${leaf} chains to the CA`);
  }
  const broker = openssl('x509', '-in', join(pki, 'broker.crt'), '-noout', '-subject', '-ext', 'subjectAltName,extendedKeyUsage');
  assert.match(broker, /CN\s*=\s*broker\.plant-north\.example/);
  assert.match(broker, /DNS:broker\.plant-north\.example, IP Address:10\.0\.0\.5, DNS:mosquitto/);
  assert.match(broker, /TLS Web Server Authentication/);
  const device = openssl('x509', '-in', join(pki, 'devices/gw-line3-02.crt'), '-noout', '-subject', '-ext', 'extendedKeyUsage');
  assert.match(device, /CN\s*=\s*gw-line3-02/);
  assert.match(device, /TLS Web Client Authentication/);

  const bad = spawnSync('bash', [MAKE_CERTS, '--out', pki, '--broker-host', 'b', '--device', 'gw/1'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /device id "gw\/1" must be letters, digits, \. _ -/);
  assert.match(spawnSync('bash', [MAKE_CERTS, '--out', pki], { encoding: 'utf8' }).stderr, /--broker-host NAME is required/);
});

test('compose.yaml: every file it mounts exists or is made by make-certs.sh, and the broker runs the deploy/mosquitto config', async (t) => {
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['artifacts', 'ingest-1', 'ingest-2', 'mosquitto', 'postgres']);
  const pki = join(await tempDir(t), 'pki');
  makeCerts(pki, '--broker-host', 'broker.example');

  for (const [name, svc] of Object.entries(s)) {
    for (const v of svc.volumes ?? []) {
      const [source, target] = v.split(':') as [string, string];
      if (!source.startsWith('.')) {
        assert.ok(source in compose.volumes, `${name}: named volume ${source} is declared`);
        continue;
      }
      if (source.startsWith('./pki/')) assert.ok(existsSync(join(pki, source.slice('./pki/'.length))), `${name}: ${source} is made by make-certs.sh`);
      else if (source === './bundles') assert.equal(target, '/srv/bundles');
      else assert.ok(existsSync(resolve(CENTRAL, source)), `${name}: ${source} exists`);
    }
    if (svc.build) {
      assert.ok(existsSync(join(resolve(CENTRAL, svc.build.context), svc.build.dockerfile)), `${name}: ${svc.build.dockerfile} exists`);
      assert.equal(svc.entrypoint?.at(-1), '/app/bin/edgectl.js');
      assert.ok(['ingest', 'serve'].includes(svc.command![0]!), `${name} runs an edgectl command`);
    }
  }

  // Mosquitto gets exactly the files deploy/mosquitto/mosquitto.conf names.
  const conf = readFileSync(DEPLOY_CONF, 'utf8');
  const setting = (key: string) => new RegExp(`^${key} (.+)$`, 'm').exec(conf)![1]!;
  const mounts = Object.fromEntries(s.mosquitto!.volumes!.map((v) => v.split(':').slice(0, 2).reverse()));
  assert.equal(mounts['/etc/mosquitto/mosquitto.conf'], '../mosquitto/mosquitto.conf');
  assert.equal(mounts[setting('acl_file')], '../mosquitto/acl');
  assert.equal(mounts[setting('persistence_location').replace(/\/$/, '')], 'mosquitto-data', 'persistence on a volume');
  const start = s.mosquitto!.command!.join(' ');
  assert.match(start, /exec mosquitto -c \/etc\/mosquitto\/mosquitto\.conf$/);
  const certDir = dirname(setting('cafile'));
  for (const key of ['cafile', 'certfile', 'keyfile']) {
    assert.equal(dirname(setting(key)), certDir);
    const base = setting(key).slice(certDir.length + 1);
    assert.ok(start.includes(`/pki/${base}`) && mounts[`/pki/${base}`] === `./pki/${base}`, `${key} ${setting(key)} is copied in from ./pki/${base}`);
  }
  assert.ok(start.includes(` ${certDir}/ `), 'into the folder the config names');
  assert.ok(s.mosquitto!.ports!.includes('8883:8883'));
  assert.deepEqual(s.postgres!.ports, ['127.0.0.1:5432:5432'], 'the database only on the central host\'s loopback');

  // Two ingest workers in one shared subscription, each with its own client id.
  const flag = (cmd: string[], f: string) => cmd[cmd.indexOf(f) + 1];
  const ingest = [s['ingest-1']!.command!, s['ingest-2']!.command!];
  assert.equal(flag(ingest[0]!, '--share'), flag(ingest[1]!, '--share'));
  assert.notEqual(flag(ingest[0]!, '--client-id'), flag(ingest[1]!, '--client-id'));
  for (const cmd of ingest) {
    assert.match(flag(cmd, '--broker')!, /^mqtts:\/\/mosquitto:8883$/);
    assert.doesNotMatch(flag(cmd, '--db')!, /:[^@/]*@/, 'no password on the command line (PGPASSWORD instead)');
  }
  assert.equal(s['ingest-1']!.depends_on!.postgres!.condition, 'service_healthy');
  // One secret, from deploy/central/.env, required rather than defaulted.
  assert.match(s.postgres!.environment!.POSTGRES_PASSWORD!, /^\$\{POSTGRES_PASSWORD:\?/);
  for (const name of ['ingest-1', 'ingest-2']) assert.equal(s[name]!.environment!.PGPASSWORD, s.postgres!.environment!.POSTGRES_PASSWORD);
  assert.deepEqual(s.artifacts!.command, ['serve', '--dir', '/srv/bundles', '--host', '0.0.0.0', '--port', '8080']);
});

/** compose's container paths and host names, as this machine has them. */
function localCommand(cmd: string[], map: Record<string, string>): string[] {
  return cmd.map((arg) => Object.entries(map).reduce((a, [from, to]) => a.split(from).join(to), arg));
}

test('the compose stack for real: its certificates, its broker config, its two ingest commands on PostgreSQL sharing one device, its artifact server', { skip: !existsSync(MOSQUITTO) && `${MOSQUITTO} missing`, timeout: 90_000 }, async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host);
  const pkiDir = join(dir, 'pki');
  makeCerts(pkiDir, '--broker-host', 'localhost', '--broker-host', '127.0.0.1', '--device', 'gw-line3-01');
  const pki: TestPki = {
    dir: pkiDir,
    ca: join(pkiDir, 'ca.crt'),
    broker: { cert: join(pkiDir, 'broker.crt'), key: join(pkiDir, 'broker.key') },
    client: (cn) => {
      makeCerts(pkiDir, '--broker-host', 'localhost', '--device', cn);
      return { cert: join(pkiDir, `devices/${cn}.crt`), key: join(pkiDir, `devices/${cn}.key`) };
    },
  };
  const broker = await startFleetBroker(host, pki, dir);
  const pg = await pgSchema(host, 'compose_test');

  const workers = (['ingest-1', 'ingest-2'] as const).map((name) => {
    const args = localCommand(compose.services[name]!.command!, {
      'mqtts://mosquitto:8883': broker.url,
      'postgres://edge@postgres:5432/edge': pg.url,
      '/pki/': `${pkiDir}/`,
    });
    const p = new BinProcess('edgectl', [...args, '--pg-schema', pg.schema]);
    host.after(() => p.stop('SIGKILL'));
    return p;
  });
  const device = await startSyncDevice(host, {
    deviceId: 'gw-line3-01',
    dir,
    broker: { url: broker.url, protocolVersion: 5 },
    brokerConfig: { batch: { maxCount: 5, backlogMaxCount: 5, lingerMs: 5 }, tls: { ca: pki.ca, ...pki.client('gw-line3-01'), servername: 'localhost' } },
  });
  await waitFor('both ingest workers subscribed', () => workers.every((w) => w.stdout.includes('"ingest subscribed"')) || workers.some((w) => !w.running), 20_000);
  for (const w of workers) assert.ok(w.running, `an ingest worker exited:\n${w.tail()}`);
  await waitFor('the device connected over mutual TLS', () => device.sync.connected, 10_000);

  const N = 200;
  for (let i = 0; i < N; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => device.writer.add(prediction(i + k))));
  const count = async () => Number((await pg.query<{ n: string }>("SELECT count(*) AS n FROM predictions WHERE device = 'gw-line3-01'"))[0]!.n);
  await waitFor(`${N} predictions in PostgreSQL`, async () => (await count()) === N, 30_000, 100);
  assert.equal(await count(), N, 'each stored once');

  const batches: number[] = [];
  for (const w of workers) {
    assert.equal(await w.stop('SIGTERM', 15_000), 0, w.tail());
    const stopped = w.stdout.split('\n').filter((l) => l.includes('"ingest stopped"')).map((l) => JSON.parse(l) as { batches: number });
    assert.equal(stopped.length, 1, w.tail());
    batches.push(stopped[0]!.batches);
  }
  assert.ok(batches.every((b) => b > 0), `both workers took batches from the shared subscription: ${batches.join(' + ')}`);

  // The artifact server's command, on a free port, serving a bundle folder with byte ranges.
  const bundles = join(dir, 'bundles');
  mkdirSync(join(bundles, 'defect/1.5.0'), { recursive: true });
  writeFileSync(join(bundles, 'defect/1.5.0/model.onnx'), Buffer.from('0123456789'));
  const port = await freePort();
  const serve = new BinProcess('edgectl', localCommand(compose.services.artifacts!.command!, { '/srv/bundles': bundles, '8080': String(port) }));
  host.after(() => serve.stop('SIGKILL'));
  await waitFor('the artifact server to listen', () => serve.stdout.includes('"artifact server listening"') || !serve.running, 20_000);
  const res = await fetch(`http://127.0.0.1:${port}/defect/1.5.0/model.onnx`, { headers: { range: 'bytes=2-5' } });
  assert.equal(res.status, 206, serve.tail());
  assert.equal(await res.text(), '2345');
  assert.equal(await serve.stop('SIGTERM', 15_000), 0, serve.tail());
});
