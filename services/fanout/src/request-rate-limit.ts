import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from './http-route.js';

/** `points` requests per minute per key, on this instance. */
export const perMinute = (points: number) => new RateLimiterMemory({ points, duration: 60 });

/**
 * Takes one request from `key`'s allowance, or refuses it: 429 with `code`, and the seconds to
 * wait in `retry_after_s` and the Retry-After header. Counted by code in
 * tripwire_fanout_client_errors_total, like every refused request.
 */
export async function takeOrRefuse(
  limiter: RateLimiterMemory,
  key: string,
  code: string,
  message: string,
): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    const retryAfterS = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
    throw new ApiError(429, code, `${message}; retry in ${retryAfterS} s`, undefined, {
      retry_after_s: retryAfterS,
    });
  }
}
