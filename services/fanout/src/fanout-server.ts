import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Bus } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { credentialStore, type Pool } from '@tripwire/storage';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { createBusDelivery, subscribeToEvents } from './bus-delivery.js';
import { exportLimits, type FanoutConfig, taskLimits } from './config.js';
import { ConnectionCaps } from './connection-caps.js';
import { startCredentialRecheck } from './credential-recheck.js';
import { registerDashboard } from './dashboard-files.js';
import { watchFanoutDependencies } from './dependency-health.js';
import { createFanoutMetrics, type FanoutMetrics } from './fanout-metrics.js';
import {
  createFailureReporter,
  createRateLimitedLog,
  guarded,
  type ReportFailure,
} from './handler-guard.js';
import { registerApi } from './http-api.js';
import { INTERNAL_ERROR_BODY, sendJson } from './http-route.js';
import { WARM_START_MAX_MS } from './limits.js';
import { loadNativeUws } from './native-uws.js';
import { createFanoutNotifier } from './notify/start-notifications.js';
import { oidcSettings } from './oidc-settings.js';
import { readOpenApiDocument, registerOpenApiDocument } from './openapi-document.js';
import { createOperatorAuth } from './operator-auth.js';
import { registerFanoutProbes } from './probe-routes.js';
import { createGreeter } from './resume.js';
import { type ReplayWindow, replayWindowFor } from './resume-window.js';
import { startSlowConsumerSweep } from './slow-consumers.js';
import { drainSockets } from './socket-drain.js';
import { createSender, type FanoutSocket } from './socket-state.js';
import { TopicRouter } from './topic-router.js';
import { createWsHandlers, type WsParts } from './ws-handlers.js';

export interface FanoutDeps {
  config: FanoutConfig;
  pool: Pool;
  /** Follows the event stream, publishes rule changes: redisBus(…) or createMemoryBus(). */
  bus: Bus;
  log: Logger;
}

export interface FanoutServer {
  /** `metricsPort`: where /metrics is served (METRICS_PORT), off the public port. */
  start(): Promise<{ port: number; metricsPort: number }>;
  stop(): Promise<void>;
}

/** Assembles the fan-out: Redis → sockets, /ws/alerts, the probes, the REST API and the dashboard. */
export function createFanoutServer({ config, pool, bus, log }: FanoutDeps): FanoutServer {
  const uws = loadNativeUws();
  const app = uws.App();
  const auth = createOperatorAuth(config.OPERATOR_JWT_SECRET, {
    tokenMaxAgeS: config.OPERATOR_TOKEN_MAX_AGE_S,
    store: credentialStore(pool),
  });
  const router = new TopicRouter(config.WS_MAX_TOPICS);
  const replayWindow = replayWindowFor(config);
  const sockets = new Set<FanoutSocket>();
  const metrics = createFanoutMetrics({
    ...{ sockets, router, replayWindow },
    dependencyWatches: () => health.all,
  });
  const report = createFailureReporter(log, metrics);
  const notifier = createFanoutNotifier({ config, pool, log, registry: metrics.registry });
  const sender = createSender(metrics);
  // A hung PostgreSQL or Redis: /readyz fails and every browser is told (dependency-health.ts).
  const { health, notices } = watchFanoutDependencies({
    ...{ config, pool, metrics, log, sockets },
    lastReadAt: () => subscriber.lastReadAt,
  });
  const publishing = {
    keyPrefix: config.BUS_KEY_PREFIX,
    onError: health.onFailure('redis', 'publish'),
  };
  // Rule changes go on the control stream, which the ingest service follows.
  const publisher = bus.publisher({ ...publishing, stream: 'control' });
  // Incident changes go on both: events for browsers (this and every other fan-out node), control for ingest.
  const eventsPublisher = bus.publisher({ ...publishing, stream: 'events' });
  const delivery = createBusDelivery({ app, router, replayWindow, config, metrics });
  const onReadFailed = health.onFailure('redis', 'xread');
  const subscriber = subscribeToEvents({ bus, config, log, delivery, onReadFailed });
  let listenSocket: us_listen_socket | null = null;
  let draining = false;
  const isDraining = () => draining;

  const wsParts = { config, auth, metrics, isDraining, router, sockets, sender, report, notices };
  registerWebSocket(app, wsParts, replayWindow, { pool, log });
  const stopSweep = startSlowConsumerSweep(sockets, {
    maxBackpressureBytes: config.WS_MAX_BACKPRESSURE_BYTES,
    replayStallMs: config.WS_REPLAY_STALL_MS,
  });
  const stopRecheck = startCredentialRecheck({
    sockets,
    pool,
    intervalMs: config.WS_CREDENTIAL_RECHECK_MS,
    metrics,
    log,
  });
  const hangs = () => health.readiness();
  const probeParts = { app, config, pool, subscriber, isDraining, hangs, metrics, report };
  const metricsServer = registerFanoutProbes(probeParts);
  const logLimited = createRateLimitedLog(log);
  const onError = (code: string, err?: unknown) => {
    metrics.clientErrors.inc({ code });
    if (!err) return;
    health.failed('postgres', 'rest', err);
    logLimited(code, { err }, 'API request failed: the database is unavailable');
  };
  registerApi(
    {
      app,
      auth,
      onError,
      report,
      allowedOrigins: config.ALLOWED_ORIGINS,
      httpsOnly: config.COOKIE_SECURE,
      trustProxy: config.TRUST_PROXY,
    },
    { pool, publisher, eventsPublisher, ...apiSettings(config, metrics, log) },
  );
  registerOpenApiDocument(app, readOpenApiDocument(), report);
  // Registered before the catch-all, to which it passes the service's own unknown paths.
  registerDashboard(app, config.DASHBOARD_DIR, log, report);
  registerNotFound(app, report);

  return {
    async start() {
      subscriber.start();
      notifier.start();
      // Warm the replay window before taking connections, so a browser resuming on a node that
      // just started finds its position. A Redis outage does not hold the start up: /readyz reports it.
      await Promise.race([
        subscriber.caughtUp,
        new Promise((r) => setTimeout(r, WARM_START_MAX_MS).unref()),
      ]);
      const metricsPort = await metricsServer.start();
      const port = await new Promise<number>((resolve, reject) => {
        app.listen(config.HOST, config.PORT, (socket) => {
          if (!socket) return reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
      log.info({ port, metricsPort }, 'fan-out service listening');
      return { port, metricsPort };
    },

    async stop() {
      if (draining) return;
      draining = true;
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      await drainSockets(sockets, sender, config.SHUTDOWN_DRAIN_MS);
      stopSweep();
      stopRecheck();
      await subscriber.stop();
      await notifier.stop();
      await Promise.all([publisher.drain(2_000), eventsPublisher.drain(2_000)]);
      publisher.close();
      eventsPublisher.close();
      await metricsServer.stop();
      health.stop();
      log.info('fan-out service stopped');
    },
  };
}

/** The REST resources' settings, from the config. */
function apiSettings(config: FanoutConfig, metrics: FanoutMetrics, log: Logger) {
  return {
    cookieSecure: config.COOKIE_SECURE,
    identity: {
      sessionMaxAgeS: config.SESSION_MAX_AGE_S,
      signInsPerMinute: config.SIGN_IN_RATE_LIMIT_PER_MINUTE,
      auditVerifiesPerMinute: config.AUDIT_VERIFY_PER_MINUTE,
      apiTokenMaxAgeDays: config.API_TOKEN_MAX_AGE_DAYS,
    },
    oidc: {
      settings: oidcSettings(config),
      secret: config.OPERATOR_JWT_SECRET,
      trustProxy: config.TRUST_PROXY,
      metrics,
      log,
    },
    enrollment: {
      tokenMaxTtlS: config.ENROLLMENT_TOKEN_MAX_TTL_S,
      approvalTtlS: config.ENROLLMENT_APPROVAL_TTL_S,
    },
    tasks: { limits: taskLimits(config), shellApproval: config.TASKS_SHELL_APPROVAL },
    exports: { limits: exportLimits(config), metrics },
  };
}

/** /ws/alerts with its caps: connections per operator and address, resumes per operator, the sliced replay. */
function registerWebSocket(
  app: TemplatedApp,
  parts: Omit<WsParts, 'greeter' | 'caps' | 'resumeLimiter'>,
  replayWindow: ReplayWindow,
  database: { pool: Pool; log: Logger },
) {
  const { config, metrics, router, sender, report } = parts;
  const logBackfill = createRateLimitedLog(database.log);
  const greeter = createGreeter({
    replayWindow,
    router,
    metrics,
    sender,
    report,
    sliceEntries: config.WS_REPLAY_SLICE_FRAMES,
    // Half the slow-consumer threshold: a replay never gets a reading browser closed as slow.
    pauseAboveBytes: config.WS_MAX_BACKPRESSURE_BYTES / 2,
    resumesPerMinute: config.WS_RESUMES_PER_MINUTE,
    db: database.pool,
    onBackfillError: (err) =>
      logBackfill('backfill', { err }, 'a resume could not be served from PostgreSQL'),
    settings: {
      overlapMs: config.WS_BACKFILL_OVERLAP_MS,
      retentionMonths: config.ALERT_RETENTION_MONTHS,
      catchUpMs: config.WS_RESUME_CATCH_UP_MS,
    },
    backfillMaxAlerts: config.WS_BACKFILL_MAX_ALERTS,
  });
  const caps = new ConnectionCaps(
    config.WS_MAX_CONNECTIONS_PER_OPERATOR,
    config.WS_MAX_CONNECTIONS_PER_ADDRESS,
  );
  const resumeLimiter = new RateLimiterMemory({
    points: config.WS_RESUMES_PER_MINUTE,
    duration: 60,
  });
  app.ws('/ws/alerts', createWsHandlers({ ...parts, greeter, caps, resumeLimiter }));
}

/** Every other path: a JSON 404. */
function registerNotFound(app: TemplatedApp, report: ReportFailure) {
  app.any(
    '/*',
    guarded(
      'not_found',
      report,
      (res) => sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } }),
      (res) => sendJson(res, 500, INTERNAL_ERROR_BODY),
    ),
  );
}
