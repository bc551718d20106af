import { Redis } from 'ioredis';

/** TCP keepalive probes start after this much idleness: a peer that vanished is noticed. */
const KEEPALIVE_MS = 10_000;

export interface RedisClientOptions {
  /** Called on connection errors; ioredis reconnects by itself. */
  onError?: (err: Error) => void;
  /**
   * Publishers want commands to fail at once while disconnected (their
   * backlog handles retries); blocking readers want them queued.
   */
  failFastWhileDisconnected?: boolean;
  connectionName?: string;
  /**
   * A command not answered within this many ms is rejected ("Command timed
   * out"), so a Redis that hangs while staying connected fails commands
   * instead of stalling them. Leave it unset on a connection that runs
   * XREAD BLOCK: the subscriber keeps its own deadline (block time + margin).
   */
  commandTimeoutMs?: number;
}

export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: options.connectionName,
    enableOfflineQueue: !options.failFastWhileDisconnected,
    maxRetriesPerRequest: options.failFastWhileDisconnected ? 0 : null,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    connectTimeout: 5_000,
    commandTimeout: options.commandTimeoutMs || undefined,
    keepAlive: KEEPALIVE_MS,
  });
  redis.on('error', (err) => options.onError?.(err));
  return redis;
}
