import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  host?: string;
  port: number;
  registry: Registry;
  /** Ready to take traffic: dependencies reachable and not draining. */
  readiness: () => Promise<ReadinessReport> | ReadinessReport;
}

export interface ReadinessReport {
  ready: boolean;
  /** Per-dependency status, shown in the /readyz body. */
  checks: Record<string, boolean | string>;
}

export interface ProbeServer {
  start(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * /healthz: the process is alive (liveness). /readyz: it can do its job
 * (readiness; 503 while draining or when a dependency is down). /metrics:
 * Prometheus text format.
 */
export function createProbeServer(options: ProbeServerOptions): ProbeServer {
  let server: Server | undefined;
  const handler = async (path: string): Promise<[number, string, string]> => {
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
  };
  return {
    async start() {
      server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        handler(path).then(
          ([status, type, body]) => {
            res.writeHead(status, { 'content-type': type }).end(body);
          },
          (err: Error) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: err.message }));
          },
        );
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(options.port, options.host ?? '0.0.0.0', resolve);
      });
      return (server.address() as AddressInfo).port;
    },
    async stop() {
      if (!server) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}
