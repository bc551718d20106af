import type { WebSocketBehavior } from 'uWebSockets.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { type ClientMessage, ProtocolError, parseClientMessage } from './client-protocol.js';
import type { DegradedNotices } from './degraded-notice.js';
import { guarded } from './handler-guard.js';
import { CLOSE_FRAME_TOO_LARGE, CLOSE_SLOW_CONSUMER, NATIVE_PAYLOAD_FACTOR } from './limits.js';
import type { Greeter } from './resume.js';
import { nativeBackpressureLimit } from './slow-consumers.js';
import {
  answerBrokenSocket,
  type FanoutSocket,
  retopic,
  type Sender,
  type SocketState,
} from './socket-state.js';
import type { TopicRouter } from './topic-router.js';
import { createUpgradeHandler, type UpgradeParts } from './ws-upgrade.js';

export interface WsParts extends UpgradeParts {
  router: TopicRouter;
  /** The open sockets: added on open, removed on close (and by the slow-consumer sweep). */
  sockets: Set<FanoutSocket>;
  sender: Sender;
  /** Sends a new socket its welcome and replay, then makes it live (see resume.ts). */
  greeter: Greeter;
  /** After the welcome: a `degraded` frame for each dependency hung now. */
  notices: Pick<DegradedNotices, 'greet'>;
}

type MessageParts = Pick<WsParts, 'config' | 'router' | 'sender' | 'metrics'>;

/**
 * /ws/alerts: its native limits and the upgrade, open, message, drain and close handlers,
 * each guarded: an exception answers an error frame (or close 1011) and the process goes on.
 */
export function createWsHandlers(parts: WsParts): WebSocketBehavior<SocketState> {
  const { config, metrics, router, sockets, greeter, sender, report, caps, notices } = parts;
  const broken = (ws: FanoutSocket) => answerBrokenSocket(ws, sender, true);
  const greet = guarded(
    'open',
    report,
    (ws: FanoutSocket) => {
      if (ws.getUserData().closed) return;
      ws.cork(() => greeter.greet(ws));
      notices.greet(ws);
    },
    broken,
  );
  return {
    // The native frame limit sits above WS_MAX_PAYLOAD_BYTES so the message handler can close with 1009.
    maxPayloadLength: config.WS_MAX_PAYLOAD_BYTES * NATIVE_PAYLOAD_FACTOR,
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    ...nativeBackpressureLimit(config.WS_MAX_BACKPRESSURE_BYTES),

    upgrade: createUpgradeHandler(parts),

    open: guarded(
      'open',
      report,
      (ws) => {
        sockets.add(ws);
        // The first frames go out on the next turn of the loop: writing from inside open() right
        // after an asynchronous upgrade can get the new socket closed by this uWebSockets.js build
        // (uNetworking/uWebSockets#1928).
        setImmediate(() => greet(ws));
      },
      broken,
    ),

    message: guarded('message', report, createMessageHandler(parts), (ws) =>
      answerBrokenSocket(ws, sender),
    ),

    drain: guarded('drain', report, (ws) => greeter.onDrain(ws), broken),

    close: guarded('close', report, (ws, code) => {
      const state = ws.getUserData();
      state.closed = true;
      sockets.delete(ws);
      caps.release(state.operator.name, state.address);
      if (state.topic) router.release(state.topic);
      if (code === CLOSE_SLOW_CONSUMER) metrics.slowConsumerCloses.inc();
    }),
  };
}

/** Oversized frames close the socket; the rest are rate limited, then answered. */
function createMessageHandler(
  parts: WsParts,
): (ws: FanoutSocket, message: ArrayBuffer, isBinary: boolean) => void {
  const { config, metrics, sender, report } = parts;
  const limiter = new RateLimiterMemory({
    points: config.WS_RATE_LIMIT_MESSAGES,
    duration: config.WS_RATE_LIMIT_WINDOW_S,
  });
  const onFailure = (ws: FanoutSocket) => answerBrokenSocket(ws, sender);
  const allowed = guarded(
    'message',
    report,
    (ws: FanoutSocket, text: string, isBinary: boolean) => {
      if (ws.getUserData().closed) return;
      if (isBinary) return sender.sendError(ws, 'binary_not_supported', 'send JSON text frames');
      answer(ws, text, parts);
    },
    onFailure,
  );
  const limited = guarded(
    'message',
    report,
    (ws: FanoutSocket) => {
      if (!ws.getUserData().closed)
        sender.sendError(
          ws,
          'rate_limited',
          `more than ${config.WS_RATE_LIMIT_MESSAGES} messages in ${config.WS_RATE_LIMIT_WINDOW_S} s; slow down`,
        );
    },
    onFailure,
  );
  return (ws, message, isBinary) => {
    const state = ws.getUserData();
    if (message.byteLength > config.WS_MAX_PAYLOAD_BYTES) {
      metrics.clientErrors.inc({ code: 'frame_too_large' });
      state.closed = true;
      ws.end(CLOSE_FRAME_TOO_LARGE, `frame over ${config.WS_MAX_PAYLOAD_BYTES} bytes`);
      return;
    }
    // The buffer is only valid during this call: decode it now.
    const text = Buffer.from(message).toString();
    limiter.consume(state.sessionId).then(
      () => allowed(ws, text, isBinary),
      () => limited(ws),
    );
  };
}

/** Parses a client frame and acts on it; a bad one gets an error frame naming what to fix. */
function answer(ws: FanoutSocket, text: string, parts: MessageParts): void {
  try {
    const msg = parseClientMessage(text, parts.config.WS_MAX_FILTER_ENTRIES);
    ws.cork(() => {
      if (msg.type === 'ping') pong(ws, msg, parts);
      else if (msg.type === 'subscribe') subscribe(ws, msg, parts);
      else unsubscribe(ws, msg, parts);
    });
  } catch (err) {
    if (err instanceof ProtocolError)
      parts.sender.sendError(ws, err.code, err.message, err.subscriptionId);
    else throw err;
  }
}

function pong(
  ws: FanoutSocket,
  msg: Extract<ClientMessage, { type: 'ping' }>,
  { sender }: MessageParts,
) {
  sender.send(ws, { type: 'pong', timestamp: msg.timestamp ?? new Date().toISOString() });
}

function subscribe(
  ws: FanoutSocket,
  msg: Extract<ClientMessage, { type: 'subscribe' }>,
  { config, router, sender, metrics }: MessageParts,
) {
  const { subscriptions } = ws.getUserData();
  if (
    !subscriptions.has(msg.subscription_id) &&
    subscriptions.size >= config.WS_MAX_SUBSCRIPTIONS
  ) {
    throw new ProtocolError(
      'too_many_subscriptions',
      `at most ${config.WS_MAX_SUBSCRIPTIONS} subscriptions per connection`,
      msg.subscription_id,
    );
  }
  const previous = subscriptions.get(msg.subscription_id);
  subscriptions.set(msg.subscription_id, msg.filters);
  if (!retopic(ws, router)) {
    // Beyond WS_MAX_TOPICS: the socket keeps exactly what it had.
    if (previous) subscriptions.set(msg.subscription_id, previous);
    else subscriptions.delete(msg.subscription_id);
    throw tooManyTopics(metrics, msg.subscription_id);
  }
  sender.send(ws, {
    type: 'subscribed',
    subscription_id: msg.subscription_id,
    filters: msg.filters,
  });
}

function unsubscribe(
  ws: FanoutSocket,
  msg: Extract<ClientMessage, { type: 'unsubscribe' }>,
  { router, sender, metrics }: MessageParts,
) {
  const { subscriptions } = ws.getUserData();
  const previous = subscriptions.get(msg.subscription_id);
  if (!previous) {
    throw new ProtocolError(
      'unknown_subscription',
      `no subscription "${msg.subscription_id}"`,
      msg.subscription_id,
    );
  }
  subscriptions.delete(msg.subscription_id);
  if (!retopic(ws, router)) {
    subscriptions.set(msg.subscription_id, previous);
    throw tooManyTopics(metrics, msg.subscription_id);
  }
  sender.send(ws, { type: 'unsubscribed', subscription_id: msg.subscription_id });
}

/** WS_MAX_TOPICS reached: the change would need a new topic. Counted. */
function tooManyTopics(metrics: MessageParts['metrics'], subscriptionId: string): ProtocolError {
  metrics.limitsHit.inc({ limit: 'topics' });
  return new ProtocolError(
    'too_many_topics',
    'this node serves as many distinct filter sets as it may: keep your current subscriptions, use a filter already in use, or try later',
    subscriptionId,
  );
}
