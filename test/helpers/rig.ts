import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ingest } from '../../central/ingest.js';
import { writeDefectModel } from '../../agent/demo/defect-model.js';
import { agentConfig, startAgent, writeConfig, type AgentConfigOptions, type AgentProcess } from './agent-process.js';
import { startBroker, type TestBroker, type TestBrokerOptions } from './broker.js';
import { startIngest } from './central.js';
import { lifo } from './teardown.js';
import { tempDir, type CleanupHost } from './tmp.js';

/** One agent's folder: its config, hot folder and SQLite file side by side. */
export interface AgentSite {
  inbox: string;
  done: string;
  rejected: string;
  /** The agent's SQLite file. */
  dbPath: string;
  /** Writes this site's config (relative paths resolve next to it) and returns its path. */
  writeAgentConfig(deviceId: string, extra?: Partial<AgentConfigOptions>): Promise<string>;
}

/** Everything an agent-as-a-process test needs around the agent: a broker, central ingest, a model, a folder. */
export interface Rig extends AgentSite {
  host: CleanupHost;
  dir: string;
  broker: TestBroker;
  ingest: Ingest;
  modelPath: string;
  /** Another agent's folder under the rig's dir, for tests that run several agents on one broker. */
  site(name: string): Promise<AgentSite>;
  /** Spawns an agent, waits until it is ready; it is killed at teardown if still running. */
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
  const siteAt = (siteDir: string): AgentSite => {
    const inbox = join(siteDir, 'inbox');
    return {
      inbox,
      done: join(inbox, 'done'),
      rejected: join(inbox, 'rejected'),
      dbPath: join(siteDir, 'agent.db'),
      writeAgentConfig: (deviceId, extra = {}) =>
        writeConfig(siteDir, agentConfig({ deviceId, broker, modelPath, folder: 'inbox', dbPath: 'agent.db', ...extra })),
    };
  };
  return {
    ...siteAt(dir),
    host,
    dir,
    broker,
    ingest,
    modelPath,
    site: async (name) => {
      const siteDir = join(dir, name);
      await mkdir(siteDir, { recursive: true });
      return siteAt(siteDir);
    },
    startAgent: (configPath) => startAgent(host, configPath),
  };
}
