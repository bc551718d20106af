import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay in front of a real server, so a test can cut the network (every
 * open connection dropped, new ones refused) and restore it, exactly what a
 * client sees when PostgreSQL or Redis goes away.
 */
export interface TcpProxy {
  /** host:port clients should use instead of the real server. */
  readonly port: number;
  /** The real server's URL with its host and port swapped for the proxy's. */
  url(realUrl: string): string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url(realUrl) {
      const u = new URL(realUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    async close() {
      open = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A proxy in front of the server a URL points at. */
export function proxyFor(realUrl: string): Promise<TcpProxy> {
  const u = new URL(realUrl);
  const defaultPort = u.protocol.startsWith('redis') ? 6379 : 5432;
  return startTcpProxy(u.hostname, Number(u.port || defaultPort));
}
