import { z } from 'zod';

/*
 * A capture command: a line controller (or an operator's tool) tells a triggered camera
 * on one device to take one picture now, e.g. when a part reaches the station and the
 * PLC speaks MQTT rather than OPC-UA. The broker's ACL decides who may publish it.
 */

/** Largest capture command an agent accepts, checked before parsing. */
export const CAPTURE_COMMAND_MAX_BYTES = 1024;

/** The topic a device hears capture commands on. */
export function captureCommandTopic(prefix: string, deviceId: string): string {
  return `${prefix}/${deviceId}/cmd/capture`;
}

/** One picture from one triggered camera, optionally naming the part in front of it. */
export const CaptureCommand = z.strictObject({
  v: z.literal(1),
  /** The source id of a camera with `mode: triggered`. */
  camera: z.string().min(1).max(64),
  /** Carried by the frame and its predictions. */
  partId: z.string().min(1).max(128).optional(),
});
export type CaptureCommand = z.infer<typeof CaptureCommand>;
