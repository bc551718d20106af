import { redisTimeout } from '@tripwire/bus';
import type { Logger } from '@tripwire/logger';
import { DependencyWatches, describeHang } from '@tripwire/probes';
import { alertReadsAnswer, type Pool, postgresTimeout } from '@tripwire/storage';
import type { FanoutConfig } from './config.js';
import { createDegradedNotices, type DegradedNotices } from './degraded-notice.js';
import type { FanoutMetrics } from './fanout-metrics.js';
import type { FanoutSocket } from './socket-state.js';

export interface FanoutHealthParts {
  config: Pick<FanoutConfig, 'DEPENDENCY_HUNG_AFTER_MS' | 'DEPENDENCY_PROBE_INTERVAL_MS'>;
  pool: Pool;
  metrics: FanoutMetrics;
  log: Logger;
  /** When the event stream's subscriber last read from Redis (Date.now() ms). */
  lastReadAt: () => number;
  /** The open sockets: told of each hang and each recovery (degraded-notice.ts). */
  sockets: ReadonlySet<FanoutSocket>;
}

/**
 * The fan-out's watches on its dependencies (DependencyWatch has the rule). Timeouts: a REST
 * request's query (statement or pool checkout timeout, also answered 503 database_timeout), a
 * read of the event stream (the subscriber's reply deadline), a publish of a REST change
 * (Redis command timeout). Probes: `alerts` readable within the probe interval; a stream read
 * after the last timeout. A hang fails /readyz and tells every browser; its end tells them too.
 */
export function watchFanoutDependencies(parts: FanoutHealthParts): {
  health: DependencyWatches;
  notices: DegradedNotices;
} {
  const { config, pool, metrics, log } = parts;
  const notices = createDegradedNotices(parts.sockets, () => health.all.map((w) => w.hang));
  const health = new DependencyWatches({
    hungAfterMs: config.DEPENDENCY_HUNG_AFTER_MS,
    probeIntervalMs: config.DEPENDENCY_PROBE_INTERVAL_MS,
    probes: {
      postgres: () => alertReadsAnswer(pool, config.DEPENDENCY_PROBE_INTERVAL_MS),
      redis: (afterMs) => parts.lastReadAt() > afterMs,
    },
    timeoutOf: { postgres: postgresTimeout, redis: redisTimeout },
    onTimeout: (dependency, operation) => metrics.dependencyTimeouts.inc({ dependency, operation }),
    onHung(report) {
      const hang = describeHang(report);
      log.error(
        { dependency: report.dependency, hang },
        'dependency hung: browsers told, not ready',
      );
      notices.degraded(report);
    },
    onRecovered(report, at) {
      const hungForMs = at.getTime() - report.since.getTime();
      log.warn({ dependency: report.dependency, hungForMs }, 'dependency recovered: browsers told');
      notices.recovered(report, at);
    },
  });
  return { health, notices };
}
