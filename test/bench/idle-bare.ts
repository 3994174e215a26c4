import { InferenceSession } from 'onnxruntime-node';
import { idleRss, runProbe } from './idle-probe.js';

// The same model in a bare onnxruntime session with the agent's session options, nothing else.
await runProbe(async (req) => {
  const t0 = performance.now();
  const session = await InferenceSession.create(req.modelPath, { intraOpNumThreads: req.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const readyMs = performance.now() - t0;
  const rssMb = await idleRss();
  await session.release();
  return { readyMs, connectedMs: null, rssMb };
});
