import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../agent/agent.js';
import { benchConfig } from './config.js';
import { idleRss, runProbe } from './idle-probe.js';
import { sleep } from './stats.js';

// The whole agent as `edge-agent run` builds it from a config: started, connected, idle.
await runProbe(async (req) => {
  const inbox = join(req.dir, 'inbox');
  mkdirSync(inbox, { recursive: true });
  const config = benchConfig({ deviceId: 'bench-idle', model: req.entry, dbPath: join(req.dir, 'idle.db'), broker: req.broker, sourceDir: inbox });
  const t0 = performance.now();
  const agent = await Agent.create({ config, baseDir: req.baseDir, log: pino({ level: 'silent' }) });
  await agent.start();
  const readyMs = performance.now() - t0;
  for (let i = 0; i < 500 && !agent.sync.connected; i++) await sleep(2);
  const connectedMs = agent.sync.connected ? performance.now() - t0 : null;
  const rssMb = await idleRss();
  await agent.stop();
  return { readyMs, connectedMs, rssMb };
});
