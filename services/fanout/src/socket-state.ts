import type { WebSocket } from 'uWebSockets.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import type { Operator } from './operator-auth.js';
import type { SubscriptionFilter } from './subscription-filter.js';
import type { TopicRouter } from './topic-router.js';

/** What the fan-out keeps per browser connection (uWebSockets.js user data). */
export interface SocketState {
  sessionId: string;
  operator: Operator;
  subscriptions: Map<string, SubscriptionFilter>;
  topic: string | null;
  since: string | null;
  closed: boolean;
  /** Consecutive sweeps that found this socket over the backpressure limit. */
  sweepsOverLimit: number;
}

export type FanoutSocket = WebSocket<SocketState>;

/** Everyone gets host changes and stream-level notices on this topic. */
export const BROADCAST_TOPIC = 'broadcast';

export interface Sender {
  /** A JSON frame; nothing once the socket is closed. */
  send(ws: FanoutSocket, message: unknown): void;
  /** An `error` frame the client can act on, counted by code. */
  sendError(ws: FanoutSocket, code: string, message: string, subscriptionId?: string): void;
}

export function createSender(metrics: Pick<FanoutMetrics, 'clientErrors'>): Sender {
  const send = (ws: FanoutSocket, message: unknown) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(message));
  };
  return {
    send,
    sendError(ws, code, message, subscriptionId) {
      metrics.clientErrors.inc({ code });
      send(ws, {
        type: 'error',
        code,
        message,
        ...(subscriptionId ? { subscription_id: subscriptionId } : {}),
      });
    },
  };
}

/** Moves a socket to the topic for its current set of subscriptions. */
export function retopic(ws: FanoutSocket, router: TopicRouter): void {
  const state = ws.getUserData();
  const next =
    state.subscriptions.size > 0 ? router.acquire([...state.subscriptions.values()]) : null;
  if (state.topic) {
    ws.unsubscribe(state.topic);
    router.release(state.topic);
  }
  if (next) ws.subscribe(next);
  state.topic = next;
}
