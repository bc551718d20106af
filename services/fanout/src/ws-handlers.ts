import type { WebSocketBehavior } from 'uWebSockets.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { type ClientMessage, ProtocolError, parseClientMessage } from './client-protocol.js';
import { CLOSE_FRAME_TOO_LARGE, CLOSE_SLOW_CONSUMER, NATIVE_PAYLOAD_FACTOR } from './limits.js';
import { nativeBackpressureLimit } from './slow-consumers.js';
import { type FanoutSocket, retopic, type Sender, type SocketState } from './socket-state.js';
import type { TopicRouter } from './topic-router.js';
import { createUpgradeHandler, type UpgradeParts } from './ws-upgrade.js';

export interface WsParts extends UpgradeParts {
  router: TopicRouter;
  /** The open sockets: added on open, removed on close (and by the slow-consumer sweep). */
  sockets: Set<FanoutSocket>;
  sender: Sender;
  /** Sends a new socket its welcome and replay, then makes it live (see resume.ts). */
  greet: (ws: FanoutSocket) => void;
}

type MessageParts = Pick<WsParts, 'config' | 'router' | 'sender'>;

/** /ws/alerts: its native limits and the upgrade, open, message and close handlers. */
export function createWsHandlers(parts: WsParts): WebSocketBehavior<SocketState> {
  const { config, metrics, router, sockets, greet } = parts;
  return {
    // The native frame limit sits above WS_MAX_PAYLOAD_BYTES so the message handler can close with 1009.
    maxPayloadLength: config.WS_MAX_PAYLOAD_BYTES * NATIVE_PAYLOAD_FACTOR,
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    ...nativeBackpressureLimit(config.WS_MAX_BACKPRESSURE_BYTES),

    upgrade: createUpgradeHandler(parts),

    open: (ws) => {
      const state = ws.getUserData();
      sockets.add(ws);
      // The first frames go out on the next turn of the loop: writing from inside open() right
      // after an asynchronous upgrade can get the new socket closed by this uWebSockets.js build
      // (uNetworking/uWebSockets#1928).
      setImmediate(() => {
        if (!state.closed) ws.cork(() => greet(ws));
      });
    },

    message: createMessageHandler(parts),

    close: (ws, code) => {
      const state = ws.getUserData();
      state.closed = true;
      sockets.delete(ws);
      if (state.topic) router.release(state.topic);
      if (code === CLOSE_SLOW_CONSUMER) metrics.slowConsumerCloses.inc();
    },
  };
}

/** Oversized frames close the socket; the rest are rate limited, then answered. */
function createMessageHandler(parts: WsParts): WebSocketBehavior<SocketState>['message'] {
  const { config, metrics, sender } = parts;
  const limiter = new RateLimiterMemory({
    points: config.WS_RATE_LIMIT_MESSAGES,
    duration: config.WS_RATE_LIMIT_WINDOW_S,
  });
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
      () => {
        if (state.closed) return;
        if (isBinary) return sender.sendError(ws, 'binary_not_supported', 'send JSON text frames');
        answer(ws, text, parts);
      },
      () => {
        if (!state.closed)
          sender.sendError(
            ws,
            'rate_limited',
            `more than ${config.WS_RATE_LIMIT_MESSAGES} messages in ${config.WS_RATE_LIMIT_WINDOW_S} s; slow down`,
          );
      },
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
  { config, router, sender }: MessageParts,
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
  subscriptions.set(msg.subscription_id, msg.filters);
  retopic(ws, router);
  sender.send(ws, {
    type: 'subscribed',
    subscription_id: msg.subscription_id,
    filters: msg.filters,
  });
}

function unsubscribe(
  ws: FanoutSocket,
  msg: Extract<ClientMessage, { type: 'unsubscribe' }>,
  { router, sender }: MessageParts,
) {
  if (!ws.getUserData().subscriptions.delete(msg.subscription_id)) {
    throw new ProtocolError(
      'unknown_subscription',
      `no subscription "${msg.subscription_id}"`,
      msg.subscription_id,
    );
  }
  retopic(ws, router);
  sender.send(ws, { type: 'unsubscribed', subscription_id: msg.subscription_id });
}
