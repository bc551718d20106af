import type { Redis } from 'ioredis';

/** Redis stopped answering on a connection that still looks open (hung, or a silent network cut). */
export class RedisReplyTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`Redis did not answer ${what} within ${ms} ms: connection treated as hung`);
    this.name = 'RedisReplyTimeoutError';
  }
}

/**
 * Resolves once the connection is ready, or rejects after `ms`: a command
 * issued meanwhile would wait in ioredis's offline queue with no deadline.
 */
export function whenReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new RedisReplyTimeoutError(`the connection (status ${redis.status})`, ms));
    }, ms);
    timer.unref();
    redis.once('ready', onReady);
  });
}

/**
 * The reply to `command`, or RedisReplyTimeoutError after `ms`. XREAD BLOCK
 * cannot use ioredis's commandTimeout (it would cut every idle block short),
 * so a blocking reader keeps this deadline of its own: block time + margin.
 */
export function withDeadline<T>(reply: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisReplyTimeoutError(what, ms)), ms);
    timer.unref();
  });
  // A reply that arrives after the deadline is dropped; swallow its late rejection.
  reply.catch(() => {});
  return Promise.race([reply, deadline]).finally(() => clearTimeout(timer));
}

/**
 * How a failure was Redis not answering in time: ioredis's commandTimeout ("Command timed
 * out"), or a RedisReplyTimeoutError; undefined for any other failure (refused, closed).
 */
export function redisTimeout(err: unknown): string | undefined {
  if (err instanceof RedisReplyTimeoutError) return err.message;
  if (err instanceof Error && /^Command timed out$/.test(err.message))
    return 'command timeout (REDIS_COMMAND_TIMEOUT_MS)';
  return undefined;
}
