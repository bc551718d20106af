// A TCP relay between one service and Redis or PostgreSQL, so the run can take the network
// away from that service alone. Two ways, as networks fail:
//   reset:     every connection is dropped and new ones are refused (a restarted server, a
//              firewall sending RSTs): the client sees errors at once and reconnects.
//   blackhole: nothing moves any more but every connection stays open (a partition, a dead
//              switch): the client sees silence and only its own timeouts can tell.
// Restoring a blackhole lets the held bytes through, as TCP retransmission would.
import { connect, createServer, type Server, type Socket } from 'node:net';

export type CutMode = 'reset' | 'blackhole';

interface Link {
  client: Socket;
  upstream: Socket | null;
  /** Blackholed: not piping, both sides paused. */
  held: boolean;
}

export class FaultProxy {
  private readonly links = new Set<Link>();
  private mode: CutMode | null = null;
  private server: Server | null = null;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.port = (server.address() as { port: number }).port;
  }

  /** The URL the service should use: `realUrl` with its host and port swapped for the proxy's. */
  url(realUrl: string): string {
    const u = new URL(realUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  cut(mode: CutMode) {
    this.mode = mode;
    for (const link of this.links) {
      if (mode === 'reset') this.drop(link);
      else this.hold(link);
    }
  }

  restore() {
    this.mode = null;
    for (const link of this.links) if (link.held) this.flow(link);
  }

  async close() {
    this.mode = 'reset';
    for (const link of this.links) this.drop(link);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private accept(client: Socket) {
    if (this.mode === 'reset') {
      client.destroy();
      return;
    }
    const link: Link = { client, upstream: null, held: false };
    this.links.add(link);
    client.on('error', () => this.drop(link));
    client.on('close', () => this.drop(link));
    if (this.mode === 'blackhole') {
      link.held = true;
      client.pause();
    } else this.flow(link);
  }

  /** Connects upstream if not yet done, and lets bytes move both ways. */
  private flow(link: Link) {
    link.held = false;
    if (!link.upstream) {
      const upstream = connect(this.targetPort, this.targetHost);
      link.upstream = upstream;
      upstream.on('error', () => this.drop(link));
      upstream.on('close', () => this.drop(link));
    }
    link.client.pipe(link.upstream);
    link.upstream.pipe(link.client);
  }

  private hold(link: Link) {
    if (link.held) return;
    link.held = true;
    link.client.unpipe();
    link.upstream?.unpipe();
    link.client.pause();
    link.upstream?.pause();
  }

  private drop(link: Link) {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.upstream?.destroy();
  }
}
