import type { Bus } from '@tripwire/bus';
import { answerWithin, createProbeServer, type ProbeServer } from '@tripwire/probes';
import { type Pool, pingDatabase } from '@tripwire/storage';
import type { IngestConfig } from './config.js';
import type { DependencyHealth } from './dependency-health.js';
import type { IngestMetrics } from './ingest-metrics.js';

export interface IngestProbesDeps {
  config: Pick<IngestConfig, 'HTTP_HOST' | 'HTTP_PORT' | 'DEPENDENCY_PROBE_INTERVAL_MS'>;
  pool: Pool;
  bus: Bus;
  metrics: IngestMetrics;
  isDraining: () => boolean;
  health: Pick<DependencyHealth, 'readiness'>;
}

/**
 * /healthz, /metrics and /readyz: ready while PostgreSQL answers, neither it nor Redis is
 * declared hung (`postgres_hung`, `redis_hung` say since when and why), and the service is not
 * draining.
 */
export function createIngestProbes({
  config,
  pool,
  bus,
  metrics,
  isDraining,
  health,
}: IngestProbesDeps): ProbeServer {
  return createProbeServer({
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    registry: metrics.registry,
    readiness: async () => {
      // Bounded: on a PostgreSQL that does not answer, readiness says so instead of hanging.
      const database = await answerWithin(
        () => pingDatabase(pool),
        config.DEPENDENCY_PROBE_INTERVAL_MS,
      );
      const draining = isDraining();
      const hangs = health.readiness();
      return {
        ready: database && !draining && !hangs.hung,
        checks: { database, redis: bus.status(), ...hangs.checks, draining },
      };
    },
  });
}
