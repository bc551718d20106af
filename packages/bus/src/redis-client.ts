import { Redis } from 'ioredis';

export interface RedisClientOptions {
  /** Called on connection errors; ioredis reconnects by itself. */
  onError?: (err: Error) => void;
  /**
   * Publishers want commands to fail at once while disconnected (their
   * backlog handles retries); blocking readers want them queued.
   */
  failFastWhileDisconnected?: boolean;
  connectionName?: string;
}

export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: options.connectionName,
    enableOfflineQueue: !options.failFastWhileDisconnected,
    maxRetriesPerRequest: options.failFastWhileDisconnected ? 0 : null,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    connectTimeout: 5_000,
  });
  redis.on('error', (err) => options.onError?.(err));
  return redis;
}
