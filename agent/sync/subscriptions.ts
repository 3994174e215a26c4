import type { Logger } from 'pino';
import type { BrokerSession } from './connection.js';
import type { InboundGuard } from './inbound-guard.js';

/** Receives an inbound message; it must validate the payload itself (size first, then schema). */
export type MessageHandler = (topic: string, payload: Buffer) => void;

/** Whether an MQTT topic filter (with `+` and `#`) matches a topic. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * The agent's inbound topics. Every new session subscribes to all of them again, because a
 * broker restarted without persistence has forgotten them; retained messages (desired
 * state, manifests) then arrive again, which is what reconciliation wants.
 */
export class Subscriptions {
  private readonly handlers = new Map<string, MessageHandler>();
  private session: BrokerSession | undefined;

  constructor(
    private readonly log: Logger,
    private readonly guard?: InboundGuard,
  ) {}

  /** Adds a filter; subscribes at once when a session is live. */
  add(filter: string, handler: MessageHandler): void {
    this.handlers.set(filter, handler);
    if (this.session?.open) this.subscribe(this.session, [filter]);
  }

  remove(filter: string): void {
    this.handlers.delete(filter);
    if (this.session?.open) this.session.client.unsubscribe(filter);
  }

  /** Called for every new session. */
  attach(session: BrokerSession): void {
    this.session = session;
    session.client.on('message', (topic, payload) => this.dispatch(topic, payload));
    if (this.handlers.size > 0) this.subscribe(session, [...this.handlers.keys()]);
  }

  private subscribe(session: BrokerSession, filters: string[]): void {
    session.client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) return this.log.warn({ err, filters }, 'subscription failed; retried at the next connection');
      const refused = (granted ?? []).filter((g) => g.qos > 2).map((g) => g.topic);
      if (refused.length > 0) this.log.warn({ refused }, 'the broker refused subscriptions (ACL?)');
    });
  }

  private dispatch(topic: string, payload: Buffer): void {
    for (const [filter, handler] of this.handlers) {
      if (!topicMatches(filter, topic)) continue;
      if (this.guard && !this.guard.admit(filter, topic, payload.length)) continue;
      try {
        handler(topic, payload);
      } catch (err) {
        // A handler's bug must not take the connection down with it.
        this.log.error({ err, topic }, 'message handler failed');
      }
    }
  }
}
