import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Ingest } from '../../central/ingest.js';
import { Agent } from '../agent.js';
import { type AgentConfig, ConfigSchema } from '../config/schema.js';
import { sleep } from '../lifecycle/backoff.js';
import { createLogger } from '../log.js';
import { DEFECT_MODEL, defectModelEntry, writeDefectModel } from './defect-model.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { BEARING_MODEL, startDemoPlant } from './plant-demo.js';

export interface DemoOptions {
  /** Seconds to run; 0 runs until SIGINT/SIGTERM. */
  durationS: number;
  /** Working folder for the models and databases, kept afterwards; a temp folder, removed at the end, when absent. */
  dir?: string | undefined;
  /** Seconds between summary lines. */
  everyS?: number;
}

/** The last line the demo prints, as JSON. */
export interface DemoSummary {
  predictions: number;
  synced: number;
  defects: number;
  /** Bearing predictions from the simulated plant's OPC-UA signals, and how many reached central. */
  sensorPredictions: number;
  sensorSynced: number;
  worn: number;
  framesIn: number;
  dropped: number;
  /** Predictions that got an explanation. */
  explained: number;
  rejected: number;
  durationS: number;
  dir: string;
}

/**
 * `edge-agent demo`: everything in one process with no set-up: an embedded MQTT broker,
 * the synthetic camera, the generated defect model, the agent and the central ingest.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'edge-agent-demo-'));
  mkdirSync(dir, { recursive: true });
  const log = createLogger(process.env.EDGE_AGENT_DEMO_LOG ?? 'warn');
  const modelPath = await writeDefectModel(join(dir, 'models'));
  const broker = await startEmbeddedBroker();
  const plant = await startDemoPlant(dir);
  const config = demoConfig(dir, modelPath, broker.url, plant.config);
  const ingest = new Ingest({
    brokerUrl: broker.url,
    dbPath: join(dir, 'central.db'),
    topicPrefix: config.broker.topicPrefix,
    protocolVersion: 4,
    clientId: 'demo-central-ingest',
    log: log.child({ component: 'ingest' }),
  });
  await ingest.start();
  const agent = await Agent.create({ config, baseDir: dir, log });
  // With a reused --dir, earlier runs' rows are in both databases: count only this run's.
  const firstSeq = (agent.store.database.prepare('SELECT coalesce(max(seq), 0) + 1 AS s FROM predictions').get() as { s: number }).s;
  await agent.start();
  const t0 = performance.now();
  console.log(`edge-agent demo: device ${config.deviceId}, synthetic camera at ${config.sources[0]?.type === 'synthetic' ? config.sources[0].fps : '?'} fps, model "${DEFECT_MODEL.name}"`);
  console.log(`  status:  ${agent.status?.url}/api/status`);
  console.log(`  page:    ${agent.status?.url}/  (the operator's status page)`);
  console.log(`  broker:  ${broker.url} (embedded, MQTT 3.1.1)`);
  console.log(`  plant:   ${plant.plant.endpoint} (simulated pump, OPC-UA SignAndEncrypt), model "${BEARING_MODEL}" every second`);
  console.log(`  data:    ${dir}${opts.dir ? '' : ' (removed at the end; keep it with --dir DIR)'}`);
  console.log(opts.durationS > 0 ? `  running for ${opts.durationS} s` : '  press Ctrl-C to stop');

  const elapsed = () => (performance.now() - t0) / 1000;
  const countStmt = ingest.database.prepare('SELECT count(*) AS n, coalesce(sum(label = ?), 0) AS defects FROM predictions WHERE device = ? AND seq >= ? AND model = ?');
  const central = () => countStmt.get('defect', config.deviceId, firstSeq, DEFECT_MODEL.name) as { n: number; defects: number };
  const sensorCentral = () => countStmt.get('worn', config.deviceId, firstSeq, BEARING_MODEL) as { n: number; defects: number };
  const ticker = setInterval(() => {
    const s = agent.snapshot();
    console.log(
      `[${elapsed().toFixed(0).padStart(4)} s] frames ${s.counters.framesIn}  predictions ${s.counters.predictions}  ` +
        `defects ${central().defects}  synced ${central().n}  outbox ${s.outbox.pending}  ` +
        `dropped ${s.counters.dropped}  broker ${s.broker.connected ? 'connected' : 'DISCONNECTED'}  ` +
        `plant ${s.opcua?.servers[0]?.state ?? '-'}  bearing windows ${sensorCentral().n} (worn ${sensorCentral().defects})`,
    );
  }, (opts.everyS ?? 3) * 1000);

  await untilDone(opts.durationS);
  clearInterval(ticker);
  await agent.stop();
  // The agent flushed its outbox; give the broker a moment to hand the last batch to ingest.
  const sensorCommitted = agent.metrics.models.get(BEARING_MODEL)?.predictions ?? 0;
  const committed = agent.counters.predictions - sensorCommitted;
  for (let i = 0; i < 50 && (central().n < committed || sensorCentral().n < sensorCommitted); i++) await sleep(100);
  const { n: synced, defects } = central();
  const { n: sensorSynced, defects: worn } = sensorCentral();
  const summary: DemoSummary = {
    predictions: committed,
    synced,
    defects,
    sensorPredictions: sensorCommitted,
    sensorSynced,
    worn,
    framesIn: agent.counters.framesIn,
    dropped: agent.counters.dropped,
    explained: agent.explainer.stats.explained,
    rejected: agent.counters.rejected,
    durationS: Math.round(elapsed() * 10) / 10,
    dir,
  };
  await ingest.stop();
  await plant.plant.stop();
  await broker.close();
  if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify(summary));
  return summary.predictions > 0 && summary.synced === summary.predictions && summary.sensorSynced === summary.sensorPredictions ? 0 : 1;
}

function demoConfig(dir: string, modelPath: string, brokerUrl: string, sensors: Record<string, unknown>): AgentConfig {
  return ConfigSchema.parse({
    deviceId: 'demo-gw01',
    site: 'demo-plant',
    sources: [{ id: 'cam1', type: 'synthetic', fps: 10, width: 640, height: 480, defectRate: 0.2 }],
    // Every reject gets an occlusion map, and 2% of the good parts, within twice the inference time.
    models: [{ ...defectModelEntry(modelPath), explain: { classes: ['defect'], sampleRate: 0.02, cpuShare: 2 } }],
    buffer: { path: join(dir, 'agent.db') },
    // The embedded broker speaks MQTT 3.1.1; against Mosquitto or EMQX the agent uses MQTT 5.
    broker: { url: brokerUrl, protocolVersion: 4 },
    status: { host: '127.0.0.1', port: 0 },
    shutdown: { deadlineMs: 5000 },
    ...sensors,
  });
}

function untilDone(durationS: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = durationS > 0 ? setTimeout(finish, durationS * 1000) : undefined;
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    function finish() {
      clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    }
  });
}
