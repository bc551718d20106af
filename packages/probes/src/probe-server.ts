import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ProbeOptions, probeResponse } from './probe-response.js';

export interface ProbeServerOptions extends ProbeOptions {
  host?: string;
  port: number;
  /** A request's headers must arrive within this (default 5 s), or the connection is closed. */
  headersTimeoutMs?: number;
  /** A whole request must arrive within this (default 10 s). */
  requestTimeoutMs?: number;
}

export interface ProbeServer {
  start(): Promise<number>;
  stop(): Promise<void>;
}

const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The probes (see probeResponse) on their own node:http port. A client that sends half its
 * headers and waits is cut off after the headers timeout (408 and close): a probe port never
 * holds a connection for someone who does not finish asking.
 */
export function createProbeServer(options: ProbeServerOptions): ProbeServer {
  let server: Server | undefined;
  const headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, headersTimeout);
  return {
    async start() {
      server = createServer(
        {
          headersTimeout,
          requestTimeout,
          // How often node:http looks for connections past those timeouts (default 30 s).
          connectionsCheckingInterval: Math.min(1_000, headersTimeout),
        },
        (req, res) => {
          const path = (req.url ?? '/').split('?')[0] ?? '/';
          void probeResponse(path, options).then(([status, type, body]) => {
            if (!res.destroyed) res.writeHead(status, { 'content-type': type }).end(body);
          });
        },
      );
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
