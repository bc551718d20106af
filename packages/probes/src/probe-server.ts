import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ProbeOptions, probeResponse } from './probe-response.js';

export interface ProbeServerOptions extends ProbeOptions {
  host?: string;
  port: number;
}

export interface ProbeServer {
  start(): Promise<number>;
  stop(): Promise<void>;
}

/** The probes (see probeResponse) on their own node:http port. */
export function createProbeServer(options: ProbeServerOptions): ProbeServer {
  let server: Server | undefined;
  return {
    async start() {
      server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        void probeResponse(path, options).then(([status, type, body]) => {
          res.writeHead(status, { 'content-type': type }).end(body);
        });
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
