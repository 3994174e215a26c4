/** The Sparkplug B namespace, first level of every Sparkplug topic. */
export const SPARKPLUG_NAMESPACE = 'spBv1.0';

export type NodeMessage = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD';

/** `spBv1.0/<group>/<type>/<edge node>`. */
export function nodeTopic(group: string, type: NodeMessage, node: string): string {
  return `${SPARKPLUG_NAMESPACE}/${group}/${type}/${node}`;
}

/** Where a primary host application announces whether it is online. */
export function stateTopic(hostId: string): string {
  return `${SPARKPLUG_NAMESPACE}/STATE/${hostId}`;
}

/**
 * A STATE payload's verdict: Sparkplug 3.0 sends `{"online":true,"timestamp":...}`, 2.2 sent
 * the bare words ONLINE / OFFLINE. Anything else is refused with why.
 */
export function parseState(payload: Buffer): { ok: true; online: boolean } | { ok: false; reason: string } {
  if (payload.length > 1024) return { ok: false, reason: `STATE payload of ${payload.length} bytes exceeds 1024` };
  const text = payload.toString('utf8').trim();
  if (text === 'ONLINE' || text === 'OFFLINE') return { ok: true, online: text === 'ONLINE' };
  try {
    const json = JSON.parse(text) as { online?: unknown };
    if (typeof json?.online === 'boolean') return { ok: true, online: json.online };
    return { ok: false, reason: 'STATE payload has no boolean "online"' };
  } catch {
    return { ok: false, reason: 'STATE payload is neither JSON nor ONLINE/OFFLINE' };
  }
}
