import assert from 'node:assert/strict';
import test from 'node:test';
import { ConfigSchema } from '../../agent/config/schema.js';

const base = {
  deviceId: 'gw',
  sources: [{ id: 'cam', type: 'synthetic' }],
  models: [{ name: 'defect', path: 'm.onnx', preprocess: { width: 64, height: 64 } }],
  broker: { url: 'mqtt://b:1883' },
};

const problems = (cfg: unknown) => {
  const r = ConfigSchema.safeParse(cfg);
  assert.equal(r.success, false);
  return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

test('OPC-UA defaults: SignAndEncrypt with Basic256Sha256, anonymous, certificates never trusted automatically', () => {
  const c = ConfigSchema.parse({ ...base, opcua: { servers: [{ id: 'plc', endpoint: 'opc.tcp://10.0.3.20:4840', tags: [{ name: 'vib', nodeId: 'ns=2;s=Vib' }] }] } });
  const s = c.opcua.servers[0]!;
  assert.equal(s.securityMode, 'SignAndEncrypt');
  assert.equal(s.securityPolicy, 'Basic256Sha256');
  assert.deepEqual(s.identity, { type: 'anonymous' });
  assert.deepEqual(s.tags[0], { name: 'vib', nodeId: 'ns=2;s=Vib', samplingMs: 100, queueSize: 10, trigger: 'StatusValueTimestamp' });
  assert.equal(c.opcua.pkiDir, '/var/lib/edge-agent/pki');
  assert.deepEqual(c.sensorModels, []);
});

test('every sensor config problem is listed at once with its path', () => {
  const list = problems({
    ...base,
    opcua: {
      servers: [
        { id: 'plc', endpoint: 'http://plc', securityMode: 'None', securityPolicy: 'Basic256Sha256', tags: [{ name: 'vib', nodeId: 'Vib' }, { name: 'vib', nodeId: 'ns=2;s=V2' }] },
      ],
      triggers: [{ tag: 'partPresent', camera: 'cam' }],
    },
    sensorModels: [
      { name: 'defect', path: 'x.onnx', features: [{ tag: 'temp', fn: 'median' }], window: { everyMs: 1000 }, writeBack: { server: 'scada', nodeId: 'ns=2;s=H' }, validation: { onViolation: 'warn' } },
    ],
  });
  for (const expected of [
    /^opcua\.servers\.0\.endpoint: an opc\.tcp:\/\/host:port URL$/,
    /^opcua\.servers\.0\.tags\.0\.nodeId: an OPC-UA node id/,
    /^opcua\.servers\.0\.securityPolicy: securityMode None needs securityPolicy None$/,
    /^opcua\.servers\.0\.tags\.1\.name: duplicate tag name "vib"$/,
    /^opcua\.triggers\.0\.tag: no OPC-UA tag named "partPresent"$/,
    /^opcua\.triggers\.0\.camera: source "cam" is not a triggered camera/,
    /^sensorModels\.0\.name: duplicate model name "defect"$/,
    /^sensorModels\.0\.features\.0\.fn: /,
    /^sensorModels\.0\.features\.0\.tag: no OPC-UA tag named "temp"$/,
    /^sensorModels\.0\.writeBack\.server: no OPC-UA server named "scada"$/,
    /^sensorModels\.0\.validation\.onViolation: /,
  ]) {
    assert.ok(list.some((p) => expected.test(p)), `${expected} in:\n${list.join('\n')}`);
  }
});
