/** An entry of the audit trail: rejections, connectivity, errors, lifecycle. */
export interface AgentEvent {
  level: 'info' | 'warn' | 'error';
  /** Stable machine-readable kind, e.g. `frame_rejected`, `broker_connected`. */
  kind: string;
  /** The component or source the event is about. */
  source?: string;
  message: string;
  detail?: Record<string, unknown>;
}

/** Where components record audit events; the SQLite store implements it. */
export interface EventSink {
  record(event: AgentEvent): void;
}
