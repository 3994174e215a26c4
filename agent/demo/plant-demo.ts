import { copyFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { freePort } from './free-port.js';
import { TABULAR_MODEL, writeTabularModel } from './tabular-model.js';
import { PLANT_NODES, PlantServer } from './plant-server.js';

/** The sensor model the demo runs on the plant's signals. */
export const BEARING_MODEL = 'bearing';

export interface DemoPlant {
  plant: PlantServer;
  /** `opcua` and `sensorModels` for the demo agent's config. */
  config: { opcua: Record<string, unknown>; sensorModels: Array<Record<string, unknown>> };
}

/**
 * The simulated plant for `edge-agent demo`: a pump whose bearing slowly wears, on a free
 * port, over SignAndEncrypt. The demo trusts the plant's certificate by copying it into
 * the agent's PKI, as an operator would with `edge-agent opcua trust` after checking it.
 */
export async function startDemoPlant(dir: string): Promise<DemoPlant> {
  const plant = new PlantServer({ port: await freePort(), pkiDir: join(dir, 'plant-pki'), partCycleMs: 0 });
  await plant.start();
  // Wear reaches the "worn" region in a few minutes, so a longer demo shows the verdict change.
  plant.signals.driftPerS = 0.004;
  const pkiDir = join(dir, 'pki');
  mkdirSync(join(pkiDir, 'trusted', 'certs'), { recursive: true });
  copyFileSync(plant.certificateFile, join(pkiDir, 'trusted', 'certs', basename(plant.certificateFile)));
  const modelPath = await writeTabularModel(join(dir, 'models'));
  const tags = (['Vibration', 'Temperature', 'Pressure', 'MotorCurrent'] as const).map((name) => ({ name, nodeId: PLANT_NODES[name] }));
  return {
    plant,
    config: {
      opcua: { pkiDir, servers: [{ id: 'pump1', endpoint: plant.endpoint, securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256', tags }] },
      sensorModels: [
        {
          name: BEARING_MODEL,
          version: TABULAR_MODEL.version,
          path: modelPath,
          labels: [...TABULAR_MODEL.labels],
          features: [
            { tag: 'Vibration', fn: 'mean' },
            { tag: 'Vibration', fn: 'max' },
            { tag: 'Temperature', fn: 'mean' },
            { tag: 'MotorCurrent', fn: 'mean' },
          ],
          window: { sizeMs: 2000, everyMs: 1000 },
          validation: { rules: [{ tag: 'Vibration', min: 0, max: 25 }, { tag: 'Temperature', min: -20, max: 120, stuckSamples: 50 }] },
          writeBack: { server: 'pump1', nodeId: PLANT_NODES.HealthScore, value: 'score' },
        },
      ],
    },
  };
}
