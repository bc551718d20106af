import type { us_listen_socket, WebSocket } from 'uWebSockets.js';
import { randomUUID } from 'node:crypto';
import { type Bus, type BusEntry, type BusMessage, parsePosition } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { type Pool, pingDatabase } from '@tripwire/storage';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  type SubscriptionFilter,
  FilterError,
  type FilterSubject,
  filterMatches,
} from './subscription-filter.js';
import { ReplayWindow, frameFor, type ReplayEntry } from './resume-window.js';
import { ProtocolError, parseClientMessage, subscriptionsFromQuery } from './client-protocol.js';
import type { FanoutConfig } from './config.js';
import { DASHBOARD_BUILD_COMMAND, loadDashboardFiles, serveDashboard } from './dashboard-files.js';
import { createFanoutMetrics } from './fanout-metrics.js';
import { registerApi } from './http-api.js';
import { sendJson } from './http-route.js';
import { loadNativeUws } from './native-uws.js';
import { AuthError, createOperatorAuth, findToken, type Operator } from './operator-auth.js';
import { LatestVersions } from './latest-versions.js';
import { RecentIds } from './recent-ids.js';
import { TopicRouter } from './topic-router.js';

export interface FanoutDeps {
  config: FanoutConfig;
  pool: Pool;
  /** Follows the event stream, publishes rule changes: redisBus(…) or createMemoryBus(). */
  bus: Bus;
  log: Logger;
}

export interface FanoutServer {
  start(): Promise<{ port: number }>;
  stop(): Promise<void>;
}

interface SocketState {
  sessionId: string;
  operator: Operator;
  subscriptions: Map<string, SubscriptionFilter>;
  topic: string | null;
  since: string | null;
  closed: boolean;
  /** Consecutive sweeps that found this socket over the backpressure limit. */
  sweepsOverLimit: number;
}

/** Everyone gets host changes and stream-level notices on this topic. */
const BROADCAST_TOPIC = 'broadcast';
/** Close codes a client can act on. */
export const CLOSE_SLOW_CONSUMER = 4008;
export const CLOSE_SERVICE_RESTART = 1012;
const SLOW_CONSUMER_SWEEP_MS = 100;
const RECENT_ALERT_IDS = 100_000;
const RECENT_INCIDENT_REVISIONS = 20_000;
const RECENT_HOST_VERSIONS = 20_000;

export function createFanoutServer({ config, pool, bus, log }: FanoutDeps): FanoutServer {
  const uws = loadNativeUws();
  const app = uws.App();
  const auth = createOperatorAuth(config.OPERATOR_JWT_SECRET);
  const router = new TopicRouter();
  const history = new ReplayWindow(config.HISTORY_MAX_ENTRIES, config.HISTORY_WINDOW_S * 1000);
  const sockets = new Set<WebSocket<SocketState>>();
  const metrics = createFanoutMetrics({
    connections: () => sockets.size,
    topics: () => router.size,
  });
  const limiter = new RateLimiterMemory({
    points: config.WS_RATE_LIMIT_MESSAGES,
    duration: config.WS_RATE_LIMIT_WINDOW_S,
  });
  // Rule changes go on the control stream, which the ingest service follows.
  const publisher = bus.publisher({
    keyPrefix: config.BUS_KEY_PREFIX,
    stream: 'control',
  });
  // Incident changes go on both: events for browsers (this and every other fan-out node), control for ingest.
  const eventsPublisher = bus.publisher({ keyPrefix: config.BUS_KEY_PREFIX, stream: 'events' });
  let listenSocket: us_listen_socket | null = null;
  let draining = false;

  const send = (ws: WebSocket<SocketState>, message: unknown) => {
    if (!ws.getUserData().closed) ws.send(JSON.stringify(message));
  };
  const sendError = (
    ws: WebSocket<SocketState>,
    code: string,
    message: string,
    subscriptionId?: string,
  ) => {
    metrics.clientErrors.inc({ code });
    send(ws, {
      type: 'error',
      code,
      message,
      ...(subscriptionId ? { subscription_id: subscriptionId } : {}),
    });
  };
  const subscriptionList = (state: SocketState) =>
    [...state.subscriptions].map(([subscription_id, filters]) => ({ subscription_id, filters }));

  /** Moves a socket to the topic for its current set of subscriptions. */
  const retopic = (ws: WebSocket<SocketState>) => {
    const state = ws.getUserData();
    const next =
      state.subscriptions.size > 0 ? router.acquire([...state.subscriptions.values()]) : null;
    if (state.topic) {
      ws.unsubscribe(state.topic);
      router.release(state.topic);
    }
    if (next) ws.subscribe(next);
    state.topic = next;
  };

  // ---- Redis → sockets -------------------------------------------------------
  // A publisher whose reply was lost retries its chunk, so an alert can appear twice in the
  // stream; browsers must still see it once. An incident's (id, revision) names one change of it:
  // the same change published twice (a retry, or by two publishers) is dropped the same way.
  const recentAlertIds = new RecentIds(RECENT_ALERT_IDS);
  const recentIncidentRevisions = new RecentIds(RECENT_INCIDENT_REVISIONS);
  // Two ingest instances changing one host at once can publish out of order: of a host's
  // changes, only those at least as new (status_version) as the last one sent go out.
  const hostVersions = new LatestVersions(RECENT_HOST_VERSIONS);
  /** Whether a message is new; counts and drops repeats. */
  const firstSeen = (message: BusMessage) => {
    const fresh =
      message.type === 'alert'
        ? recentAlertIds.add(message.data.alert_id)
        : message.type === 'incident'
          ? recentIncidentRevisions.add(
              `${message.data.incident.incident_id}/${message.data.incident.revision}`,
            )
          : true;
    if (!fresh) metrics.duplicatesSkipped.inc();
    return fresh;
  };
  /** Whether a host change is not older than one already sent; counts and drops stale ones. */
  const current = (message: BusMessage) => {
    // A message without a version (from an ingest before versions) is always current.
    if (message.type !== 'host' || typeof message.data.version !== 'number') return true;
    const ok = hostVersions.offer(message.data.host_id, message.data.version);
    if (!ok) metrics.staleHostMessages.inc();
    return ok;
  };
  const deliver = (entries: BusEntry[]) => {
    const now = Date.now();
    for (const entry of entries) {
      const { message } = entry;
      metrics.busMessages.inc({ type: message.type });
      if (message.type === 'rules') continue;
      if (!firstSeen(message) || !current(message)) continue;
      if (message.type === 'gap') {
        // The ingest side dropped messages while Redis was down: the window cannot be trusted.
        history.clear();
        app.publish(
          BROADCAST_TOPIC,
          JSON.stringify({
            type: 'error',
            code: 'stream_gap',
            message: `${message.data.dropped} alerts were not published live; reload from /api/alerts`,
          }),
        );
        metrics.gaps.inc();
        continue;
      }
      const appendedAtMs = Number(parsePosition(entry.position).ms);
      const subject = filterSubject(message);
      const record: ReplayEntry = {
        offset: parsePosition(entry.position).offset,
        position: entry.position,
        appendedAtMs,
        frame: frameFor(entry),
        ...(subject ? { subject } : {}),
      };
      history.add(record);
      const topics = subject ? router.matching(subject) : [BROADCAST_TOPIC];
      for (const topic of topics) {
        app.publish(topic, record.frame);
        metrics.framesSent.inc(app.numSubscribers(topic));
      }
      metrics.deliveryLatency.observe(Math.max(0, now - appendedAtMs) / 1000);
    }
  };

  const subscriber = bus.subscriber({
    keyPrefix: config.BUS_KEY_PREFIX,
    // Warm the replay window from Redis history so clients can resume across a restart of this node.
    from: `${Date.now() - config.HISTORY_WINDOW_S * 1000}-0`,
    warmStart: true,
    blockMs: config.BUS_READ_BLOCK_MS,
    onEntries: deliver,
    onGap: (gap) => {
      log.warn(gap, 'Redis history no longer reaches back to this node: clients must reload');
      history.clear();
      metrics.gaps.inc();
      app.publish(
        BROADCAST_TOPIC,
        JSON.stringify({
          type: 'error',
          code: 'stream_gap',
          message: 'alerts may have been missed; reload from /api/alerts',
        }),
      );
    },
    onError: (err) => log.warn({ err: err.message }, 'Redis subscription failed; retrying'),
    onMalformed: (position, err) =>
      log.error({ position, err: err.message }, 'unreadable bus message skipped'),
  });

  /** Welcome, resume replay, then live, in one tick: nothing can slip in between replay and live. */
  const greet = (ws: WebSocket<SocketState>, state: SocketState) => {
    let resume: Record<string, unknown> | undefined;
    let replay: ReplayEntry[] = [];
    if (state.since) {
      const result = history.replaySince(state.since);
      if (result.ok) {
        const filters = [...state.subscriptions.values()];
        replay = result.entries.filter(
          (e) => !e.subject || filters.some((f) => filterMatches(f, e.subject!)),
        );
        resume = { since: state.since, status: 'replayed', count: replay.length };
        metrics.resumes.inc({ outcome: 'replayed' });
      } else {
        resume = {
          since: state.since,
          status: 'unavailable',
          reason: result.reason,
          oldest_position: result.oldest,
        };
        metrics.resumes.inc({ outcome: 'unavailable' });
      }
    }
    send(ws, {
      type: 'welcome',
      session_id: state.sessionId,
      server_time: new Date().toISOString(),
      position: history.latest,
      operator: { name: state.operator.name, role: state.operator.role },
      subscriptions: subscriptionList(state),
      ...(resume ? { resume } : {}),
    });
    if (resume?.status === 'unavailable') {
      sendError(
        ws,
        'resume_unavailable',
        `could not recover from ${state.since}: ${resume.reason}; reload from /api/alerts`,
      );
    }
    for (const e of replay) ws.send(e.frame);
    metrics.framesSent.inc(replay.length);
    // Same tick as the replay: nothing can slip in between replay and live.
    ws.subscribe(BROADCAST_TOPIC);
    retopic(ws);
  };

  // ---- WebSocket ------------------------------------------------------------
  app.ws<SocketState>('/ws/alerts', {
    // uWebSockets.js drops the TCP connection (1006) on frames over its limit; keeping the native
    // limit higher lets the message handler close with 1009 and say why. The native limit still caps memory.
    maxPayloadLength: config.WS_MAX_PAYLOAD_BYTES * 4,
    idleTimeout: config.WS_IDLE_TIMEOUT_S,
    sendPingsAutomatically: true,
    // The sweep below closes slow sockets at WS_MAX_BACKPRESSURE_BYTES with a distinct code; the
    // native limit sits well above it (a storm fills the gap in about a second, time for the sweep
    // even on a loaded machine), and if it is ever reached the socket is closed, never silently skipped.
    maxBackpressure: config.WS_MAX_BACKPRESSURE_BYTES * 16,
    closeOnBackpressureLimit: 1,

    upgrade: (res, req, context) => {
      const headers = {
        authorization: req.getHeader('authorization'),
        cookie: req.getHeader('cookie'),
        origin: req.getHeader('origin'),
        host: req.getHeader('host'),
        key: req.getHeader('sec-websocket-key'),
        protocol: req.getHeader('sec-websocket-protocol'),
        extensions: req.getHeader('sec-websocket-extensions'),
      };
      const query = new URLSearchParams(req.getQuery() ?? '');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const refuse = (status: number, code: string, message: string) => {
        metrics.authFailures.inc({ reason: code });
        sendJson(res, status, { error: { code, message } });
      };
      if (draining)
        return refuse(503, 'shutting_down', 'this node is shutting down; connect to another');
      if (headers.origin && !originAllowed(headers.origin, headers.host, config.ALLOWED_ORIGINS)) {
        return refuse(403, 'origin_not_allowed', `origin ${headers.origin} is not allowed`);
      }
      let initial: Map<string, SubscriptionFilter>;
      try {
        initial = subscriptionsFromQuery(
          query,
          config.WS_MAX_FILTER_ENTRIES,
          config.WS_MAX_SUBSCRIPTIONS,
        );
      } catch (err) {
        if (err instanceof FilterError) return refuse(400, 'invalid_filter', err.message);
        throw err;
      }
      const since = query.get('since');
      auth.verify(findToken(headers, query)).then(
        (operator) => {
          if (aborted) return;
          const state: SocketState = {
            sessionId: randomUUID(),
            operator,
            subscriptions: initial,
            topic: null,
            since,
            closed: false,
            sweepsOverLimit: 0,
          };
          res.cork(() =>
            res.upgrade(state, headers.key, headers.protocol, headers.extensions, context),
          );
        },
        (err: unknown) => {
          if (aborted) return;
          const e =
            err instanceof AuthError
              ? err
              : new AuthError('authentication failed', 401, 'bad_token');
          refuse(e.status, e.reason, e.message);
        },
      );
    },

    open: (ws) => {
      const state = ws.getUserData();
      sockets.add(ws);
      // The first frames go out on the next turn of the loop: writing from inside open() right
      // after an asynchronous upgrade can get the new socket closed by this uWebSockets.js build
      // (uNetworking/uWebSockets#1928).
      setImmediate(() => {
        if (!state.closed) ws.cork(() => greet(ws, state));
      });
    },

    message: (ws, message, isBinary) => {
      const state = ws.getUserData();
      if (message.byteLength > config.WS_MAX_PAYLOAD_BYTES) {
        metrics.clientErrors.inc({ code: 'frame_too_large' });
        state.closed = true;
        ws.end(1009, `frame over ${config.WS_MAX_PAYLOAD_BYTES} bytes`);
        return;
      }
      // The buffer is only valid during this call: decode it now.
      const text = Buffer.from(message).toString();
      limiter.consume(state.sessionId).then(
        () => {
          if (state.closed) return;
          if (isBinary) return sendError(ws, 'binary_not_supported', 'send JSON text frames');
          try {
            const msg = parseClientMessage(text, config.WS_MAX_FILTER_ENTRIES);
            ws.cork(() => {
              if (msg.type === 'ping') {
                send(ws, { type: 'pong', timestamp: msg.timestamp ?? new Date().toISOString() });
              } else if (msg.type === 'subscribe') {
                if (
                  !state.subscriptions.has(msg.subscription_id) &&
                  state.subscriptions.size >= config.WS_MAX_SUBSCRIPTIONS
                ) {
                  throw new ProtocolError(
                    'too_many_subscriptions',
                    `at most ${config.WS_MAX_SUBSCRIPTIONS} subscriptions per connection`,
                    msg.subscription_id,
                  );
                }
                state.subscriptions.set(msg.subscription_id, msg.filters);
                retopic(ws);
                send(ws, {
                  type: 'subscribed',
                  subscription_id: msg.subscription_id,
                  filters: msg.filters,
                });
              } else {
                if (!state.subscriptions.delete(msg.subscription_id)) {
                  throw new ProtocolError(
                    'unknown_subscription',
                    `no subscription "${msg.subscription_id}"`,
                    msg.subscription_id,
                  );
                }
                retopic(ws);
                send(ws, { type: 'unsubscribed', subscription_id: msg.subscription_id });
              }
            });
          } catch (err) {
            if (err instanceof ProtocolError)
              sendError(ws, err.code, err.message, err.subscriptionId);
            else throw err;
          }
        },
        () => {
          if (!state.closed)
            sendError(
              ws,
              'rate_limited',
              `more than ${config.WS_RATE_LIMIT_MESSAGES} messages in ${config.WS_RATE_LIMIT_WINDOW_S} s; slow down`,
            );
        },
      );
    },

    close: (ws, code) => {
      const state = ws.getUserData();
      state.closed = true;
      sockets.delete(ws);
      if (state.topic) router.release(state.topic);
      if (code === CLOSE_SLOW_CONSUMER) metrics.slowConsumerCloses.inc();
    },
  });

  // Slow consumers: a socket whose unsent data stays over the limit for two sweeps in a row is
  // closed with its own code, so the browser reconnects and resumes from its last position; a
  // burst that a reader is draining (a replay, a storm) does not count. Nobody else waits for it.
  const sweep = setInterval(() => {
    for (const ws of sockets) {
      const state = ws.getUserData();
      state.sweepsOverLimit =
        ws.getBufferedAmount() > config.WS_MAX_BACKPRESSURE_BYTES ? state.sweepsOverLimit + 1 : 0;
      if (state.sweepsOverLimit >= 2) {
        state.closed = true;
        sockets.delete(ws);
        ws.end(CLOSE_SLOW_CONSUMER, 'slow consumer: reconnect and resume');
      }
    }
  }, SLOW_CONSUMER_SWEEP_MS);
  sweep.unref();

  // ---- HTTP -------------------------------------------------------------------
  const readiness = async () => {
    const database = await pingDatabase(pool);
    // Probe the subscription itself: XREAD BLOCK answers at least every BUS_READ_BLOCK_MS when it works.
    const redisDelivery = Date.now() - subscriber.lastReadAt < 2 * config.BUS_READ_BLOCK_MS + 2_000;
    return {
      ready: database && redisDelivery && !draining,
      checks: { database, redis_delivery: redisDelivery, draining },
    };
  };
  app.get('/healthz', (res) => sendJson(res, 200, { status: 'ok' }));
  app.get('/readyz', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void readiness().then((r) => {
      if (!aborted)
        sendJson(res, r.ready ? 200 : 503, {
          status: r.ready ? 'ready' : 'not ready',
          checks: r.checks,
        });
    });
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void metrics.registry.metrics().then((text) => {
      if (aborted) return;
      res.cork(() => res.writeHeader('content-type', metrics.registry.contentType).end(text));
    });
  });
  registerApi(
    {
      app,
      auth,
      onError: (code, err) => {
        metrics.clientErrors.inc({ code });
        if (err) log.error({ err }, 'API request failed');
      },
    },
    { pool, publisher, eventsPublisher, cookieSecure: config.COOKIE_SECURE },
  );
  const dashboard = loadDashboardFiles(config.DASHBOARD_DIR);
  if (dashboard.available) {
    log.info({ dir: dashboard.dir, files: dashboard.files.size }, 'serving the dashboard at /');
  } else {
    log.warn(
      { reason: dashboard.reason },
      `no dashboard to serve: / answers 503 until it is built (${DASHBOARD_BUILD_COMMAND}); the API and WebSocket work without it`,
    );
  }
  // Registered before the catch-all, to which it passes the service's own unknown paths.
  serveDashboard(app, dashboard);
  app.any('/*', (res) =>
    sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } }),
  );

  return {
    async start() {
      subscriber.start();
      // Warm the replay window before taking connections, so a browser resuming on a node that
      // just started finds its position. A Redis outage does not hold the start up: /readyz reports it.
      await Promise.race([subscriber.caughtUp, new Promise((r) => setTimeout(r, 10_000).unref())]);
      const port = await new Promise<number>((resolve, reject) => {
        app.listen(config.HOST, config.PORT, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
      log.info({ port }, 'fan-out service listening');
      return { port };
    },

    async stop() {
      if (draining) return;
      draining = true;
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      for (const ws of [...sockets]) {
        const state = ws.getUserData();
        send(ws, {
          type: 'closing',
          reason: 'server shutting down: reconnect, to another node if one is up',
        });
        state.closed = true;
        // Never end a socket inside its own cork(): this uWebSockets.js build then keeps the
        // loop's cork buffer and later sends from other sockets never leave.
        ws.end(CLOSE_SERVICE_RESTART, 'service restart');
      }
      const deadline = Date.now() + config.SHUTDOWN_DRAIN_MS;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const ws of sockets) ws.close();
      clearInterval(sweep);
      await subscriber.stop();
      await Promise.all([publisher.drain(2_000), eventsPublisher.drain(2_000)]);
      publisher.close();
      eventsPublisher.close();
      log.info('fan-out service stopped');
    },
  };
}

/**
 * What subscription filters look at: an alert's own host, type and severity; an
 * incident's host, type and highest severity so far. Null: every socket gets it.
 */
function filterSubject(message: BusMessage): FilterSubject | null {
  if (message.type === 'alert') {
    const { host_id, tripwire_type, severity } = message.data;
    return { kind: 'alert', host_id, tripwire_type, severity };
  }
  if (message.type === 'incident') {
    const { host_id, tripwire_type, max_severity } = message.data.incident;
    return { kind: 'incident', host_id, tripwire_type, severity: max_severity };
  }
  return null;
}

/** Same origin as the Host header, or listed in ALLOWED_ORIGINS. */
function originAllowed(origin: string, host: string, allowed: string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
