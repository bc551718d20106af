import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { BusSubscriber } from '@tripwire/bus';
import { type ProbeOptions, probeResponse } from '@tripwire/probes';
import { type Pool, pingDatabase } from '@tripwire/storage';
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

/** Ready: PostgreSQL answers, the Redis subscription reads, and the node is not draining. */
export function fanoutReadiness(parts: {
  pool: Pool;
  subscriber: BusSubscriber;
  busReadBlockMs: number;
  isDraining: () => boolean;
}): ProbeOptions['readiness'] {
  return async () => {
    const database = await pingDatabase(parts.pool);
    // Probe the subscription itself: XREAD BLOCK answers at least every BUS_READ_BLOCK_MS when it works.
    const redisDelivery =
      Date.now() - parts.subscriber.lastReadAt < 2 * parts.busReadBlockMs + 2_000;
    const draining = parts.isDraining();
    return {
      ready: database && redisDelivery && !draining,
      checks: { database, redis_delivery: redisDelivery, draining },
    };
  };
}
