import type { TemplatedApp } from 'uWebSockets.js';
import type { BusSubscriber } from '@tripwire/bus';
import { PROBE_PATHS, type ProbeOptions, probeResponse } from '@tripwire/probes';
import { type Pool, pingDatabase } from '@tripwire/storage';
import { sendResponse } from './http-route.js';

/**
 * /healthz, /readyz and /metrics on the fan-out's own port, answered by @tripwire/probes
 * like every service. The JSON answers say no-store, like every JSON answer of this port
 * (sendJson); the metrics text never did.
 */
export function registerProbes(app: TemplatedApp, options: ProbeOptions): void {
  for (const path of PROBE_PATHS) {
    app.get(path, (res) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      void probeResponse(path, options).then(([status, contentType, body]) => {
        if (aborted) return;
        const headers: Record<string, string> = { 'content-type': contentType };
        if (contentType === 'application/json') headers['cache-control'] = 'no-store';
        sendResponse(res, status, headers, body);
      });
    });
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
