import { status } from '@grpc/grpc-js';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CallError } from './agent-auth.js';

/**
 * The address part of a grpc-js peer: grpc-js writes `${remoteAddress}:${remotePort}` (so
 * "127.0.0.1:5678", "::1:5678"), or the address alone when there is no port.
 */
export const peerAddress = (peer: string): string => peer.replace(/:\d+$/, '');

/**
 * Failed RegisterAgent attempts (wrong, missing or malformed enrollment token) per peer address
 * per minute. Only failures count: behind HAProxy or NAT every agent shares one address, so
 * counting every call would let 60 wrong guesses a minute block every enrollment. An address
 * past the limit has further wrong tokens answered RESOURCE_EXHAUSTED, so a misconfigured fleet
 * or a guesser backs off; a valid token is never counted nor refused. (What stops guessing is
 * the token's strength, at least 32 characters; this bounds the noise and tells clients to wait.)
 */
export function createRegisterRateLimit(perMinute: number) {
  const limiter = new RateLimiterMemory({ points: perMinute, duration: 60 });
  return {
    /** Counts one failed attempt from `peer`; throws RESOURCE_EXHAUSTED past the limit. */
    async failed(peer: string): Promise<void> {
      try {
        await limiter.consume(peerAddress(peer));
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryS = Math.ceil(res.msBeforeNext / 1000);
        throw new CallError(
          status.RESOURCE_EXHAUSTED,
          `too many failed RegisterAgent attempts from this address (REGISTER_RATE_LIMIT_PER_MINUTE=${perMinute}); ` +
            `check the enrollment token and retry in ${retryS} s`,
          'register_rate',
        );
      }
    },
  };
}
