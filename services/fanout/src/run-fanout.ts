import { createRedisClient, redisBus } from '@tripwire/bus';
import { loadConfigOrExit, redisSentinelOptions } from '@tripwire/config';
import { stopOnSignals } from '@tripwire/lifecycle';
import { createServiceLogger } from '@tripwire/logger';
import { createPool } from '@tripwire/storage';
import { startTracing } from '@tripwire/tracing';
import { loadConfig } from './config.js';
import { createFanoutServer } from './fanout-server.js';

/** Reads config, builds the dependencies, starts, and wires SIGTERM/SIGINT to a graceful stop. */
export async function runFanout(env: Record<string, string | undefined> = process.env) {
  const config = loadConfigOrExit(() => loadConfig(env));
  const log = createServiceLogger('fanout', config);
  // Before anything that creates spans; off (nothing loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = await startTracing('tripwire-fanout', log);
  const pool = createPool({
    databaseUrl: config.DATABASE_URL,
    max: 10,
    applicationName: 'tripwire-fanout',
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    onIdleError: (err) => log.warn({ err: err.message }, 'idle PostgreSQL connection failed'),
  });
  const onError = (err: Error) => log.debug({ err: err.message }, 'Redis connection error');
  const subscriberRedis = createRedisClient(config.REDIS_URL, {
    ...redisSentinelOptions(config),
    connectionName: 'tripwire-fanout-subscriber',
    onError,
  });
  const publisherRedis = createRedisClient(config.REDIS_URL, {
    ...redisSentinelOptions(config),
    connectionName: 'tripwire-fanout-publisher',
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    failFastWhileDisconnected: true,
    onError,
  });
  let server: ReturnType<typeof createFanoutServer>;
  try {
    server = createFanoutServer({
      config,
      pool,
      bus: redisBus({
        publisher: publisherRedis,
        subscriber: subscriberRedis,
        replyMarginMs: config.REDIS_COMMAND_TIMEOUT_MS,
      }),
      log,
    });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start');
    process.exit(1);
  }
  const { port } = await server.start();
  stopOnSignals(
    async () => {
      await server.stop();
      publisherRedis.disconnect();
      await pool.end();
      // Last: the spans of the drain itself are exported too.
      await tracing.shutdown();
    },
    (signal) => log.info({ signal }, 'stopping'),
  );
  return { config, port };
}
