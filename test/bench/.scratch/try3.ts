import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../helpers/broker.js';
import { benchConfig } from '../config.js';
import { agentDrain, agentStore } from '../io-agent.js';
import { barePublish, bareStore } from '../io-bare.js';
import { sampleRecords } from '../records.js';
const dir = mkdtempSync(join(tmpdir(), 'bench-'));
const broker = await startBroker();
const recs = sampleRecords(20000);
console.log('bytes', JSON.stringify(recs[0]).length);
for (let r = 0; r < 3; r++) {
  const cfg = benchConfig({ deviceId: `gw-${r}`, model: { name: 'm', path: 'm.onnx', preprocess: { width: 1, height: 1 } }, dbPath: join(dir, `a${r}.db`), broker });
  const cfg2 = benchConfig({ deviceId: `gwd-${r}`, model: { name: 'm', path: 'm.onnx', preprocess: { width: 1, height: 1 } }, dbPath: join(dir, `d${r}.db`), broker });
  console.log({
    bareStore: bareStore(join(dir, `b${r}.db`), recs, 64).toFixed(0),
    agentStore: (await agentStore(cfg, recs)).toFixed(0),
    barePub: (await barePublish(broker, `gwb-${r}`, recs, 100)).toFixed(0),
    agentDrain: (await agentDrain(cfg2, recs)).toFixed(0),
  });
}
await broker.stop();
