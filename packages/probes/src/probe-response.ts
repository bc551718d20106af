import type { Registry } from 'prom-client';

export interface ProbeOptions {
  registry: Registry;
  /** Ready to take traffic: dependencies reachable and not draining. */
  readiness: () => Promise<ReadinessReport> | ReadinessReport;
}

export interface ReadinessReport {
  ready: boolean;
  /** Per-dependency status, shown in the /readyz body. */
  checks: Record<string, boolean | string>;
}

/** A probe's answer: status, content-type and body. */
export type ProbeResponse = [status: number, contentType: string, body: string];

/** The paths a probe answers; any other gets 404. */
export const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

/**
 * /healthz: the process is alive (liveness). /readyz: it can do its job
 * (readiness; 503 while draining or when a dependency is down). /metrics:
 * Prometheus text format. Never rejects: a check that throws answers 500 with
 * its message. Free of any HTTP server, so every service answers the same bytes
 * whichever server it runs (node:http for ingest, uWebSockets.js for fan-out).
 */
export async function probeResponse(path: string, options: ProbeOptions): Promise<ProbeResponse> {
  try {
    switch (path) {
      case '/healthz':
        return [200, 'application/json', '{"status":"ok"}'];
      case '/readyz': {
        const report = await options.readiness();
        return [
          report.ready ? 200 : 503,
          'application/json',
          JSON.stringify({ status: report.ready ? 'ready' : 'not ready', checks: report.checks }),
        ];
      }
      case '/metrics':
        return [200, options.registry.contentType, await options.registry.metrics()];
      default:
        return [
          404,
          'application/json',
          '{"error":"not found: try /healthz, /readyz or /metrics"}',
        ];
    }
  } catch (err) {
    return [500, 'application/json', JSON.stringify({ error: (err as Error).message })];
  }
}
