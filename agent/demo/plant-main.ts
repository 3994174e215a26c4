import { parseArgs } from 'node:util';
import { z } from 'zod';
import { PLANT_SIGNALS } from './plant-signals.js';
import { PlantServer } from './plant-server.js';

/*
 * The simulated plant as a process of its own, so a test can kill it and start it again.
 * It prints one JSON line when it serves; over IPC it takes fault commands and answers
 * with its counters.
 */

const Command = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('inject'), signal: z.enum(PLANT_SIGNALS), fault: z.enum(['bad', 'stuck', 'spike', 'outage', 'clear']) }),
  z.strictObject({ type: z.literal('drift'), perS: z.number().min(0).max(1) }),
  z.strictObject({ type: z.literal('stats') }),
]);

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    pki: { type: 'string' },
    'tick-ms': { type: 'string' },
    'part-cycle-ms': { type: 'string' },
    'bench-tags': { type: 'string' },
    user: { type: 'string', multiple: true },
  },
});
const num = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number(v));
const users = Object.fromEntries((values.user ?? []).map((u) => [u.slice(0, u.indexOf(':')), u.slice(u.indexOf(':') + 1)]));
const plant = new PlantServer({
  port: num(values.port, 4840),
  pkiDir: values.pki ?? 'plant-pki',
  tickMs: num(values['tick-ms'], 100),
  partCycleMs: num(values['part-cycle-ms'], 2000),
  benchTags: num(values['bench-tags'], 0),
  users,
});
await plant.start();
console.log(JSON.stringify({ ready: true, endpoint: plant.endpoint, certificate: plant.certificateFile, pid: process.pid }));

process.on('message', (raw) => {
  const parsed = Command.safeParse(raw);
  if (!parsed.success) return process.send?.({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
  const c = parsed.data;
  if (c.type === 'inject') plant.inject(c.signal, c.fault);
  if (c.type === 'drift') plant.signals.driftPerS = c.perS;
  process.send?.({ ok: true, ticks: plant.ticks, wear: plant.signals.wear, writes: Object.fromEntries(plant.writes) });
});
const stop = () => void plant.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
