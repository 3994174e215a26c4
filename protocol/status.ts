import { z } from 'zod';

/** The retained status a device keeps on its status topic; the broker publishes `offline` as its last will. */
export const DeviceStatus = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  site: z.string().optional(),
  state: z.enum(['online', 'offline']),
  ts: z.number().int().nonnegative(),
  agentVersion: z.string().optional(),
});
export type DeviceStatus = z.infer<typeof DeviceStatus>;
