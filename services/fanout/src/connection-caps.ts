import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

export type ConnectionLimit = 'connections_per_operator' | 'connections_per_address';

/**
 * Open WebSocket connections counted per operator (token subject) and per client address,
 * so one stolen token or one host cannot hold every socket, topic and replay of a node.
 */
export class ConnectionCaps {
  private readonly byOperator = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly perOperator: number,
    private readonly perAddress: number,
  ) {}

  /** Counts one more connection, or names the cap it would exceed (and counts nothing). */
  reserve(operator: string, address: string): ConnectionLimit | null {
    if ((this.byOperator.get(operator) ?? 0) >= this.perOperator) return 'connections_per_operator';
    if ((this.byAddress.get(address) ?? 0) >= this.perAddress) return 'connections_per_address';
    bump(this.byOperator, operator, 1);
    bump(this.byAddress, address, 1);
    return null;
  }

  release(operator: string, address: string): void {
    bump(this.byOperator, operator, -1);
    bump(this.byAddress, address, -1);
  }
}

function bump(counts: Map<string, number>, key: string, by: number) {
  const n = (counts.get(key) ?? 0) + by;
  if (n > 0) counts.set(key, n);
  else counts.delete(key);
}

/**
 * The client's address. Behind a balancer every connection comes from the balancer, so with
 * TRUST_PROXY the rightmost X-Forwarded-For entry counts: the one the balancer wrote, whether it
 * replaced the header (Compose's HAProxy does) or appended to it. Every header line of that name
 * is read, in order, as one comma list (RFC 9110 §5.3): getHeader() returns only the first
 * line, which is the client's own when a balancer appends a second line after it, so a forged
 * `X-Forwarded-For` would otherwise be what is counted. Read it before any await.
 */
export function clientAddress(res: HttpResponse, req: HttpRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = rightmostForwardedFor(req);
    if (forwarded) return forwarded.slice(0, 64);
  }
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

function rightmostForwardedFor(req: HttpRequest): string | undefined {
  let last = '';
  req.forEach((name, value) => {
    if (name === 'x-forwarded-for') last = value;
  });
  return last.split(',').pop()?.trim();
}
