import type { WebSocket } from 'uWebSockets.js';
import type { DatabasePhase } from './database-phase.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { CLOSE_INTERNAL_ERROR } from './limits.js';
import type { VerifiedOperator } from './operator-auth.js';
import type { ReplayEntry } from './resume-window.js';
import type { SubscriptionFilter } from './subscription-filter.js';
import type { TopicRouter } from './topic-router.js';

/** What the fan-out keeps per browser connection (uWebSockets.js user data). */
export interface SocketState {
  sessionId: string;
  /** Who, and the credential the credential recheck (credential-recheck.ts) checks again. */
  operator: VerifiedOperator;
  /** The client's address (the balancer's X-Forwarded-For entry when TRUST_PROXY): its connection cap. */
  address: string;
  subscriptions: Map<string, SubscriptionFilter>;
  topic: string | null;
  since: string | null;
  /** The operator asked for more resumes this minute than WS_RESUMES_PER_MINUTE allows. */
  resumeRefused: boolean;
  /**
   * Subscribed to its topics natively. False until the resume replay is over (resume.ts):
   * until then live frames reach the socket through the replay, never natively.
   */
  live: boolean;
  /**
   * The resume replay in progress: the position of the last window entry it went past (null:
   * none yet, start at the window's first entry), and since when (performance.now()) it has
   * waited for the socket to drain, if it does. `database`: PostgreSQL serves it first, then
   * the window takes over (resume.ts).
   */
  replay: {
    cursor: string | null;
    waitingForDrain: boolean;
    pausedAtMs: number;
    database?: DatabasePhase;
    /** Window entries not to send: the browser had them, or the database sent them. */
    skip?: (entry: ReplayEntry) => boolean;
    /** True while going live could let a frame through that `skip` must stop: keep replaying. */
    holdLive?: () => boolean;
  } | null;
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

/**
 * Moves a socket to the topic for its current set of subscriptions. False, and nothing
 * changed, when that would be a new topic beyond WS_MAX_TOPICS.
 */
export function retopic(ws: FanoutSocket, router: TopicRouter): boolean {
  const state = ws.getUserData();
  const next =
    state.subscriptions.size > 0 ? router.acquire([...state.subscriptions.values()]) : null;
  if (state.subscriptions.size > 0 && next === null) return false;
  if (state.topic) {
    if (state.live) ws.unsubscribe(state.topic);
    router.release(state.topic);
  }
  if (next && state.live) ws.subscribe(next);
  state.topic = next;
  return true;
}

/** Makes a socket live: its topic and the broadcast, natively, from now on. */
export function goLive(ws: FanoutSocket): void {
  const state = ws.getUserData();
  state.replay = null;
  state.live = true;
  ws.subscribe(BROADCAST_TOPIC);
  if (state.topic) ws.subscribe(state.topic);
}

/**
 * A handler failed on this socket: an `internal_error` frame if the socket still takes one,
 * else close 1011 (its state cannot be trusted any more).
 */
export function answerBrokenSocket(ws: FanoutSocket, sender: Sender, closeIt = false): void {
  const state = ws.getUserData();
  if (state.closed) return;
  if (!closeIt) {
    try {
      sender.sendError(ws, 'internal_error', 'the server failed on this frame; it was logged');
      return;
    } catch {
      // Fall through to closing it.
    }
  }
  state.closed = true;
  ws.end(CLOSE_INTERNAL_ERROR, 'internal error: reconnect');
}
