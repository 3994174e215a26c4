import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { openPki } from '../../agent/sources/opcua/pki.js';
import { plantTags, startSensorAgent } from '../helpers/opcua-agent.js';
import { PlantProcess, trustCertificate } from '../helpers/opcua-plant.js';
import { lifo } from '../helpers/teardown.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * One agent, four connections to the same plant: every security policy the issue names,
 * and each user identity. A wrong password is refused by the server and reported.
 */
test('security policies and user identities: username/password, X.509 user certificate, anonymous; a wrong password is refused', async (t) => {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-identity-');
  const plant = await PlantProcess.start(host, { pkiDir: join(dir, 'plant-pki'), users: ['operator:s3cret-pass'] });
  trustCertificate(join(dir, 'pki'), plant.certificate);
  const user = await openPki(join(dir, 'operator'), 'operator');
  await user.manager.dispose();
  const tags = (prefix: string) => plantTags(['Vibration']).map((x) => ({ ...x, name: `${prefix}-${x.name}` }));
  const s = await startSensorAgent(host, {
    dir,
    config: {
      opcua: {
        pkiDir: 'pki',
        servers: [
          { id: 'pw', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', identity: { type: 'username', username: 'operator', password: 's3cret-pass' }, tags: tags('pw') },
          { id: 'x509', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Aes256_Sha256_RsaPss', identity: { type: 'certificate', cert: user.certificateFile, key: user.privateKeyFile }, tags: tags('x509') },
          { id: 'anon', endpoint: plant.endpoint, securityMode: 'Sign', securityPolicy: 'Aes128_Sha256_RsaOaep', tags: [...tags('anon'), { name: 'anon-Banded', nodeId: 'ns=1;s=Plant.Vibration', deadband: { type: 'absolute', value: 100 } }] },
          { id: 'wrong', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', identity: { type: 'username', username: 'operator', password: 'guess' }, reconnect: { minMs: 300, maxMs: 600 }, tags: tags('wrong') },
        ],
      },
    },
  });
  await waitFor('three links delivering', () => ['pw', 'x509', 'anon'].every((id) => (s.agent.opcua.board.tags.get(`${id}-Vibration`)?.samples ?? 0) >= 3), 30_000);
  const servers = new Map(s.agent.snapshot().opcua!.servers.map((x) => [x.id, x]));
  for (const id of ['pw', 'x509', 'anon']) assert.equal(servers.get(id)!.state, 'connected', id);
  assert.equal(servers.get('x509')!.securityPolicy, 'Aes256_Sha256_RsaPss');
  await waitFor('the wrong password reported', () => s.events('opcua_connect_failed').some((e) => e.source === 'wrong'), 10_000);
  const wrong = s.agent.snapshot().opcua!.servers.find((x) => x.id === 'wrong')!;
  assert.notEqual(wrong.state, 'connected', 'retrying with backoff, never connected');
  assert.equal(wrong.sessions, 0);
  assert.match(wrong.lastError ?? '', /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/);
  assert.equal(s.agent.opcua.board.tags.get('wrong-Vibration')!.lastReading, undefined, 'no data without a valid identity');
  assert.equal(JSON.stringify(s.agent.snapshot()).includes('s3cret'), false, 'the password never appears in the status');
  // A deadband of 100 mm/s on a signal that moves by tenths: only the first reading is reported.
  await waitFor('a second of readings without the deadband', () => s.agent.opcua.board.tags.get('anon-Vibration')!.samples > 10, 5000);
  assert.equal(s.agent.opcua.board.tags.get('anon-Banded')!.samples, 1);
  assert.ok(existsSync(join(dir, 'pki', 'own', 'certs', 'client_certificate.pem')), 'the application certificate was created at first start');
});
