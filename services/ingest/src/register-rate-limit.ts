import { status } from '@grpc/grpc-js';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CallError } from './agent-auth.js';

/**
 * The address part of a grpc-js peer: grpc-js writes `${remoteAddress}:${remotePort}` (so
 * "127.0.0.1:5678", "::1:5678"), or the address alone when there is no port.
 */
export const peerAddress = (peer: string): string => peer.replace(/:\d+$/, '');

/**
 * RegisterAgent attempts per peer address per minute. Registration is rare (once per agent
 * install, or after a revoked token); a loop of it is token guessing or a broken agent, and each
 * attempt writes a host row and an audit entry.
 */
export function createRegisterRateLimit(perMinute: number) {
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
  return {
    /** Counts one attempt from `peer`; throws RESOURCE_EXHAUSTED past the limit. */
    async consume(peer: string): Promise<void> {
      try {
        await limiter.consume(peerAddress(peer));
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryS = Math.ceil(res.msBeforeNext / 1000);
        throw new CallError(
          status.RESOURCE_EXHAUSTED,
          `too many RegisterAgent calls from this address (REGISTER_RATE_LIMIT_PER_MINUTE=${perMinute}); retry in ${retryS} s`,
          'register_rate',
        );
      }
    },
  };
}
