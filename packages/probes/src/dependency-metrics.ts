import { Counter, Gauge, type Registry } from 'prom-client';
import type { DependencyWatch } from './dependency-watch.js';

/**
 * The two metrics of dependency hangs, under the service's prefix (`tripwire_ingest`,
 * `tripwire_fanout`): every timeout by dependency and operation, and whether each
 * dependency is hung now (DependencyWatch's verdict).
 */
export function dependencyMetrics(
  prefix: string,
  registers: Registry[],
  watches: () => readonly DependencyWatch[],
) {
  return {
    dependencyTimeouts: new Counter({
      name: `${prefix}_dependency_timeouts_total`,
      help: 'Operations on PostgreSQL or Redis that did not answer in time, by dependency (postgres, redis) and operation',
      labelNames: ['dependency', 'operation'] as const,
      registers,
    }),
    dependencyHung: new Gauge({
      name: `${prefix}_dependency_hung`,
      help: '1 while a dependency is declared hung (readiness fails; see docs/operations.md), else 0',
      labelNames: ['dependency'] as const,
      registers,
      collect() {
        for (const watch of watches())
          this.set({ dependency: watch.dependency }, watch.hang ? 1 : 0);
      },
    }),
  };
}
