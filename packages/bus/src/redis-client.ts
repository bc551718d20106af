import { Redis, type RedisOptions } from 'ioredis';

/** TCP keepalive probes start after this much idleness: a peer that vanished is noticed. */
const KEEPALIVE_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const reconnectDelay = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

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
  /**
   * Sentinels to ask for the current primary (REDIS_SENTINELS); empty or unset: the URL's host.
   * The URL then only gives the password, user, database and TLS.
   */
  sentinels?: ReadonlyArray<{ host: string; port: number }>;
  /** The name the Sentinels monitor the primary under (REDIS_SENTINEL_NAME). */
  sentinelName?: string;
}

/** Password, user, database number and TLS from a redis:// or rediss:// URL, for Sentinel mode. */
function credentialsOf(url: string): RedisOptions {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || '0');
  return {
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    ...(u.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const settings: RedisOptions = {
    connectionName: options.connectionName,
    enableOfflineQueue: !options.failFastWhileDisconnected,
    maxRetriesPerRequest: options.failFastWhileDisconnected ? 0 : null,
    retryStrategy: reconnectDelay,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: options.commandTimeoutMs || undefined,
    keepAlive: KEEPALIVE_MS,
  };
  const redis = options.sentinels?.length
    ? new Redis({
        ...credentialsOf(url),
        ...settings,
        sentinels: [...options.sentinels],
        name: options.sentinelName ?? 'mymaster',
        // Told of a failover by the Sentinels (+switch-master), not only when the old primary fails.
        failoverDetector: true,
        sentinelCommandTimeout: CONNECT_TIMEOUT_MS,
        sentinelRetryStrategy: reconnectDelay,
      })
    : new Redis(url, settings);
  redis.on('error', (err) => options.onError?.(err));
  return redis;
}
