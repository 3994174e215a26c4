import { join } from 'node:path';
import type { Ingest } from '../../central/ingest.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { agentConfig, startAgent, writeConfig, type AgentConfigOptions, type AgentProcess } from './agent-process.js';
import { startBroker, type TestBroker, type TestBrokerOptions } from './broker.js';
import { startIngest } from './central.js';
import { lifo } from './teardown.js';
import { tempDir, type CleanupHost } from './tmp.js';

/** Everything an agent-as-a-process test needs around the agent: a broker, central ingest, a model, a folder. */
export interface Rig {
  host: CleanupHost;
  dir: string;
  broker: TestBroker;
  ingest: Ingest;
  modelPath: string;
  /** The hot folder of configs from `writeAgentConfig`, and its done/ and rejected/. */
  inbox: string;
  done: string;
  rejected: string;
  /** The agent's SQLite file. */
  dbPath: string;
  writeAgentConfig(deviceId: string, extra?: Partial<AgentConfigOptions>): Promise<string>;
  startAgent(configPath: string): Promise<AgentProcess>;
}

/** Starts broker and ingest in a fresh temp dir; all of it is torn down, newest first, when `t` ends. */
export async function startRig(t: CleanupHost, brokerOpts: TestBrokerOptions = {}): Promise<Rig> {
  const host = lifo(t);
  const dir = await tempDir(host, 'edge-it-');
  const broker = await startBroker(brokerOpts);
  host.after(() => broker.stop());
  const modelPath = await writeDefectModel(join(dir, 'models'));
  const ingest = await startIngest(host, broker, join(dir, 'central', 'ingest.db'));
  const inbox = join(dir, 'inbox');
  return {
    host,
    dir,
    broker,
    ingest,
    modelPath,
    inbox,
    done: join(inbox, 'done'),
    rejected: join(inbox, 'rejected'),
    dbPath: join(dir, 'agent.db'),
    // Relative paths in the config resolve next to it, inside dir.
    writeAgentConfig: (deviceId, extra = {}) => writeConfig(dir, agentConfig({ deviceId, broker, modelPath, folder: 'inbox', dbPath: 'agent.db', ...extra })),
    startAgent: (configPath) => startAgent(host, configPath),
  };
}
