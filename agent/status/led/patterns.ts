import type { HealthState } from '../snapshot.js';

/** What the LED tells someone walking past the gateway. */
export type LedState = 'healthy' | 'degraded' | 'alarm' | 'offline' | 'updating' | 'fault' | 'off';

/** What the LED state is derived from. */
export interface LedInputs {
  health: HealthState;
  brokerConnected: boolean;
  /** A model update is being downloaded, verified or switched (rollout). */
  updating: boolean;
  /** The agent is draining before it exits; its verdict is then a fault, its LED should not say so. */
  stopping: boolean;
}

export interface LedPattern {
  /**
   * On/off durations in ms, alternating and starting with on, repeated; empty means
   * steady at `steady`. Drivers without a kernel trigger play these with a timer.
   */
  steps: readonly number[];
  steady: boolean;
  /** A Linux LED trigger that draws the same pattern without the agent's help, when the LED offers it. */
  trigger?: { name: 'timer'; delayOn: number; delayOff: number } | { name: 'heartbeat' };
}

const DOT = 200;
const DASH = 600;

/** The documented table (README, "The status LED"): one pattern per state. */
export const LED_PATTERNS: Record<LedState, LedPattern> = {
  healthy: { steps: [], steady: true },
  degraded: { steps: [500, 500], steady: false, trigger: { name: 'timer', delayOn: 500, delayOff: 500 } },
  alarm: { steps: [125, 125], steady: false, trigger: { name: 'timer', delayOn: 125, delayOff: 125 } },
  // Two short flashes, then dark: unlike any even blink, so "offline" is told apart from "degraded".
  offline: { steps: [200, 200, 200, 1400], steady: false },
  updating: { steps: [70, 180, 70, 930], steady: false, trigger: { name: 'heartbeat' } },
  // · · · — — — · · · then a pause: the agent runs but cannot do its job.
  fault: { steps: [DOT, DOT, DOT, DOT, DOT, DASH, DASH, DOT, DASH, DOT, DASH, DASH, DOT, DOT, DOT, DOT, DOT, 1400], steady: false },
  off: { steps: [], steady: false },
};

/**
 * Worst first: a fault or an alarm must never be hidden by an update or a network
 * outage; an update (or a start or stop) is shown over an outage because it explains
 * odd behaviour. A graceful stop is not a fault, although the agent then does no work.
 */
export function ledStateOf(i: LedInputs): LedState {
  if (i.stopping) return 'updating';
  if (i.health === 'fault') return 'fault';
  if (i.health === 'alarm') return 'alarm';
  if (i.updating || i.health === 'starting') return 'updating';
  if (!i.brokerConnected) return 'offline';
  if (i.health === 'degraded') return 'degraded';
  return 'healthy';
}
