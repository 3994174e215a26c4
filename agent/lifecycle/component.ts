/**
 * The contract every long-lived part of the agent follows.
 * `start` resolves once the component is ready to accept work; `stop` drains
 * and releases resources, is safe to call twice, and safe to call without `start`.
 */
export interface Component {
  readonly name: string;
  start(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
