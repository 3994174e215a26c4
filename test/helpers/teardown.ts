import type { CleanupHost } from './tmp.js';

/**
 * A cleanup host whose steps run newest first when `t` ends: the agent dies before the
 * broker and ingest stop, and all of them before their temp dir is removed. A failing
 * step is reported and the rest still run.
 */
export function lifo(t: CleanupHost): CleanupHost {
  const steps: (() => unknown)[] = [];
  t.after(async () => {
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (err) {
        console.error('teardown:', err);
      }
    }
  });
  return { after: (fn) => steps.push(fn) };
}
