import { status } from '@grpc/grpc-js';
import { CallError } from './agent-auth.js';

/**
 * How many alert streams each host has open, capped: an agent reconnecting overlaps its old
 * stream for a moment, but a host (or a stolen token) opening dozens is refused
 * RESOURCE_EXHAUSTED instead of taking a share of every worker.
 */
export class HostStreamSlots {
  private readonly open = new Map<string, number>();

  constructor(private readonly maxPerHost: number) {}

  /** Takes a slot for `hostId`, or throws RESOURCE_EXHAUSTED; give it back with `release`. */
  take(hostId: string): void {
    const n = this.open.get(hostId) ?? 0;
    if (n >= this.maxPerHost) {
      throw new CallError(
        status.RESOURCE_EXHAUSTED,
        `this host already has ${n} open alert streams (MAX_STREAMS_PER_HOST=${this.maxPerHost}); ` +
          'close one, or wait for a dropped one to time out',
        'streams_per_host',
      );
    }
    this.open.set(hostId, n + 1);
  }

  release(hostId: string): void {
    const n = (this.open.get(hostId) ?? 1) - 1;
    if (n <= 0) this.open.delete(hostId);
    else this.open.set(hostId, n);
  }
}
