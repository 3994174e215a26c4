/** What `GET /api/status` answers. */
export interface StatusSnapshot {
  device: string;
  site: string;
  agentVersion: string;
  uptimeS: number;
  models: Array<{ name: string; version: string }>;
  sources: Array<{ id: string; type: string }>;
  counters: {
    framesIn: number;
    predictions: number;
    rejected: number;
    dropped: number;
    errors: number;
  };
  outbox: { pending: number; oldestPendingTs: number | null };
  broker: { connected: boolean; url: string };
}
