import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { BusSubscriber } from '@tripwire/bus';
import {
  answerWithin,
  createProbeServer,
  type ProbeOptions,
  type ProbeServer,
  probeResponse,
} from '@tripwire/probes';
import { type Pool, pingDatabase } from '@tripwire/storage';
import type { FanoutConfig } from './config.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import { guarded, type ReportFailure } from './handler-guard.js';
import { INTERNAL_ERROR_BODY, sendJson, sendResponse } from './http-route.js';

/**
 * The probes served on the public port. /metrics is not among them: it says how many
 * browsers are connected, what fails and how often, so it is served on METRICS_PORT
 * (createProbeServer, run by fanout-server.ts), off the port browsers reach.
 */
export const PUBLIC_PROBE_PATHS = ['/healthz', '/readyz'] as const;

/**
 * /healthz and /readyz on the fan-out's own port (orchestrators and the balancer check it),
 * answered by @tripwire/probes like every service. The JSON answers say no-store, like every
 * JSON answer of this port (sendJson).
 */
export function registerProbes(
  app: TemplatedApp,
  options: ProbeOptions,
  report: ReportFailure,
): void {
  for (const path of PUBLIC_PROBE_PATHS) {
    const answerInternal = (res: HttpResponse) => sendJson(res, 500, INTERNAL_ERROR_BODY);
    app.get(
      path,
      guarded(
        'probe',
        report,
        (res: HttpResponse) => {
          let aborted = false;
          res.onAborted(() => {
            aborted = true;
          });
          const respond = guarded(
            'probe',
            report,
            ([status, contentType, body]: [number, string, string]) => {
              if (aborted) return;
              sendResponse(
                res,
                status,
                { 'content-type': contentType, 'cache-control': 'no-store' },
                body,
              );
            },
            () => answerInternal(res),
          );
          void probeResponse(path, options).then(respond);
        },
        answerInternal,
      ),
    );
  }
}

/**
 * Ready: PostgreSQL answers, the Redis subscription reads, neither dependency is declared hung
 * (`postgres_hung`, `redis_hung` say since when and why), and the node is not draining.
 */
export function fanoutReadiness(parts: {
  pool: Pool;
  /** How long the PostgreSQL check may take (DEPENDENCY_PROBE_INTERVAL_MS). */
  pingWithinMs: number;
  subscriber: BusSubscriber;
  busReadBlockMs: number;
  isDraining: () => boolean;
  hangs: () => { hung: boolean; checks: Record<string, boolean | string> };
}): ProbeOptions['readiness'] {
  return async () => {
    // Bounded: on a PostgreSQL that does not answer, readiness says so instead of hanging.
    const database = await answerWithin(() => pingDatabase(parts.pool), parts.pingWithinMs);
    // Probe the subscription itself: XREAD BLOCK answers at least every BUS_READ_BLOCK_MS when it works.
    const redisDelivery =
      Date.now() - parts.subscriber.lastReadAt < 2 * parts.busReadBlockMs + 2_000;
    const draining = parts.isDraining();
    const hangs = parts.hangs();
    return {
      ready: database && redisDelivery && !hangs.hung && !draining,
      checks: { database, redis_delivery: redisDelivery, ...hangs.checks, draining },
    };
  };
}

/**
 * The fan-out's probes: /healthz and /readyz on the public port, and all three on
 * METRICS_PORT (returned, for the caller to start and stop).
 */
export function registerFanoutProbes(parts: {
  app: TemplatedApp;
  config: Pick<
    FanoutConfig,
    'BUS_READ_BLOCK_MS' | 'METRICS_HOST' | 'METRICS_PORT' | 'DEPENDENCY_PROBE_INTERVAL_MS'
  >;
  pool: Pool;
  subscriber: BusSubscriber;
  isDraining: () => boolean;
  hangs: () => { hung: boolean; checks: Record<string, boolean | string> };
  metrics: Pick<FanoutMetrics, 'registry'>;
  report: ReportFailure;
}): ProbeServer {
  const { app, config, metrics } = parts;
  const readiness = fanoutReadiness({
    ...parts,
    busReadBlockMs: config.BUS_READ_BLOCK_MS,
    pingWithinMs: config.DEPENDENCY_PROBE_INTERVAL_MS,
  });
  registerProbes(app, { registry: metrics.registry, readiness }, parts.report);
  return createProbeServer({
    host: config.METRICS_HOST,
    port: config.METRICS_PORT,
    registry: metrics.registry,
    readiness,
  });
}
