import type { us_listen_socket } from 'uWebSockets.js';
import type { Bus } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import type { Pool } from '@tripwire/storage';
import { createBusDelivery, subscribeToEvents } from './bus-delivery.js';
import type { FanoutConfig } from './config.js';
import { registerDashboard } from './dashboard-files.js';
import { createFanoutMetrics } from './fanout-metrics.js';
import { registerApi } from './http-api.js';
import { sendJson } from './http-route.js';
import { WARM_START_MAX_MS } from './limits.js';
import { loadNativeUws } from './native-uws.js';
import { createOperatorAuth } from './operator-auth.js';
import { fanoutReadiness, registerProbes } from './probe-routes.js';
import { createGreeter } from './resume.js';
import { ReplayWindow } from './resume-window.js';
import { startSlowConsumerSweep } from './slow-consumers.js';
import { drainSockets } from './socket-drain.js';
import { createSender, type FanoutSocket } from './socket-state.js';
import { TopicRouter } from './topic-router.js';
import { createWsHandlers } from './ws-handlers.js';

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

/** Assembles the fan-out: Redis → sockets, /ws/alerts, the probes, the REST API and the dashboard. */
export function createFanoutServer({ config, pool, bus, log }: FanoutDeps): FanoutServer {
  const uws = loadNativeUws();
  const app = uws.App();
  const auth = createOperatorAuth(config.OPERATOR_JWT_SECRET);
  const router = new TopicRouter();
  const replayWindow = new ReplayWindow(config.HISTORY_MAX_ENTRIES, config.HISTORY_WINDOW_S * 1000);
  const sockets = new Set<FanoutSocket>();
  const metrics = createFanoutMetrics({
    connections: () => sockets.size,
    topics: () => router.size,
  });
  const sender = createSender(metrics);
  // Rule changes go on the control stream, which the ingest service follows.
  const publisher = bus.publisher({ keyPrefix: config.BUS_KEY_PREFIX, stream: 'control' });
  // Incident changes go on both: events for browsers (this and every other fan-out node), control for ingest.
  const eventsPublisher = bus.publisher({ keyPrefix: config.BUS_KEY_PREFIX, stream: 'events' });
  const delivery = createBusDelivery({ app, router, replayWindow, metrics });
  const subscriber = subscribeToEvents({ bus, config, log, delivery });
  let listenSocket: us_listen_socket | null = null;
  let draining = false;
  const isDraining = () => draining;

  const greet = createGreeter({ replayWindow, router, metrics, sender });
  app.ws(
    '/ws/alerts',
    createWsHandlers({ config, auth, metrics, isDraining, router, sockets, sender, greet }),
  );
  const stopSweep = startSlowConsumerSweep(sockets, config.WS_MAX_BACKPRESSURE_BYTES);
  registerProbes(app, {
    registry: metrics.registry,
    readiness: fanoutReadiness({
      pool,
      subscriber,
      busReadBlockMs: config.BUS_READ_BLOCK_MS,
      isDraining,
    }),
  });
  const onError = (code: string, err?: unknown) => {
    metrics.clientErrors.inc({ code });
    if (err) log.error({ err }, 'API request failed');
  };
  registerApi(
    { app, auth, onError },
    { pool, publisher, eventsPublisher, cookieSecure: config.COOKIE_SECURE },
  );
  // Registered before the catch-all, to which it passes the service's own unknown paths.
  registerDashboard(app, config.DASHBOARD_DIR, log);
  app.any('/*', (res) =>
    sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } }),
  );

  return {
    async start() {
      subscriber.start();
      // Warm the replay window before taking connections, so a browser resuming on a node that
      // just started finds its position. A Redis outage does not hold the start up: /readyz reports it.
      await Promise.race([
        subscriber.caughtUp,
        new Promise((r) => setTimeout(r, WARM_START_MAX_MS).unref()),
      ]);
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
      await drainSockets(sockets, sender, config.SHUTDOWN_DRAIN_MS);
      stopSweep();
      await subscriber.stop();
      await Promise.all([publisher.drain(2_000), eventsPublisher.drain(2_000)]);
      publisher.close();
      eventsPublisher.close();
      log.info('fan-out service stopped');
    },
  };
}
