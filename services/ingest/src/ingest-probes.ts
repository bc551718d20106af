import type { Bus } from '@tripwire/bus';
import { createProbeServer, type ProbeServer } from '@tripwire/probes';
import { type Pool, pingDatabase } from '@tripwire/storage';
import type { IngestConfig } from './config.js';
import type { IngestMetrics } from './ingest-metrics.js';

export interface IngestProbesDeps {
  config: Pick<IngestConfig, 'HTTP_HOST' | 'HTTP_PORT'>;
  pool: Pool;
  bus: Bus;
  metrics: IngestMetrics;
  isDraining: () => boolean;
}

/** /healthz, /metrics and /readyz: ready while PostgreSQL answers and the service is not draining. */
export function createIngestProbes({
  config,
  pool,
  bus,
  metrics,
  isDraining,
}: IngestProbesDeps): ProbeServer {
  return createProbeServer({
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    registry: metrics.registry,
    readiness: async () => {
      const database = await pingDatabase(pool);
      const draining = isDraining();
      return {
        ready: database && !draining,
        checks: { database, redis: bus.status(), draining },
      };
    },
  });
}
