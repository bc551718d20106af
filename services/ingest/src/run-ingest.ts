import { createRedisClient, redisBus } from '@tripwire/bus';
import { loadConfigOrExit, redisSentinelOptions } from '@tripwire/config';
import { stopOnSignals } from '@tripwire/lifecycle';
import { createServiceLogger } from '@tripwire/logger';
import { createPool, INGEST_INSTANCE_SETTING, migrateDatabase } from '@tripwire/storage';
import { startTracing } from '@tripwire/tracing';
import { loadConfig } from './config.js';
import { createIngestServer } from './ingest-server.js';
import { InstanceLifeline } from './instance-lifeline.js';

/** Migrations at startup wait for PostgreSQL to come up (e.g. in Compose) for up to this long. */
const MIGRATE_WAIT_MS = 60_000;

/**
 * Reads config, builds the dependencies, starts the service, and wires
 * SIGTERM/SIGINT to a graceful stop. Exits 2 on bad configuration.
 */
export async function runIngest(env: Record<string, string | undefined> = process.env) {
  const config = loadConfigOrExit(() => loadConfig(env));
  const log = createServiceLogger('ingest', config);
  // Before anything that creates spans; off (nothing loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set.
  const tracing = await startTracing('tripwire-ingest', log);

  if (config.MIGRATE_ON_START) {
    const deadline = Date.now() + MIGRATE_WAIT_MS;
    for (;;) {
      try {
        const r = await migrateDatabase({ databaseUrl: config.DATABASE_URL });
        log.info(
          { applied: r.applied, partitionsCreated: r.partitionsCreated },
          'database migrated',
        );
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          log.fatal({ err }, 'could not migrate the database');
          process.exit(1);
        }
        log.warn({ err: (err as Error).message }, 'database not ready for migrations; retrying');
        await new Promise((r) => setTimeout(r, 2_000));
      }
    }
  }

  const poolOptions = {
    databaseUrl: config.DATABASE_URL,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    onIdleError: (err: Error) =>
      log.warn({ err: err.message }, 'idle PostgreSQL connection failed'),
  };
  // One session held for the process's life: it says this instance is alive (instance-lifeline.ts).
  const lifelinePool = createPool({
    ...poolOptions,
    max: 1,
    applicationName: 'tripwire-ingest-lifeline',
  });
  const lifeline = await claimWithRetries(lifelinePool, log);
  const pool = createPool({
    ...poolOptions,
    max: 10,
    applicationName: 'tripwire-ingest',
    // alert_ids.stored_by: which instance stored each alert (the republish sweep's key).
    sessionSettings: { [INGEST_INSTANCE_SETTING]: String(lifeline.instanceId) },
  });
  const redis = createRedisClient(config.REDIS_URL, {
    ...redisSentinelOptions(config),
    failFastWhileDisconnected: true,
    connectionName: 'tripwire-ingest-publisher',
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    onError: (err) => log.debug({ err: err.message }, 'Redis connection error'),
  });
  const subscriberRedis = createRedisClient(config.REDIS_URL, {
    ...redisSentinelOptions(config),
    connectionName: 'tripwire-ingest-rules',
    onError: (err) => log.debug({ err: err.message }, 'Redis connection error'),
  });
  const server = createIngestServer({
    config,
    pool,
    bus: redisBus({
      publisher: redis,
      subscriber: subscriberRedis,
      replyMarginMs: config.REDIS_COMMAND_TIMEOUT_MS,
    }),
    log,
    lifeline,
  });
  const ports = await server.start();

  stopOnSignals(
    async () => {
      await server.stop();
      redis.disconnect();
      await pool.end();
      await lifelinePool.end();
      // Last: the spans of the drain itself are exported too.
      await tracing.shutdown();
    },
    (signal) => log.info({ signal }, 'stopping'),
  );
  return { config, ports };
}

/** PostgreSQL may still be starting (e.g. in Compose without migrations at start): retry a while. */
async function claimWithRetries(
  pool: Parameters<typeof InstanceLifeline.claim>[0],
  log: Parameters<typeof InstanceLifeline.claim>[1],
): Promise<InstanceLifeline> {
  const deadline = Date.now() + MIGRATE_WAIT_MS;
  for (;;) {
    try {
      return await InstanceLifeline.claim(pool, log);
    } catch (err) {
      if (Date.now() > deadline) {
        log.fatal({ err }, 'could not register this ingest instance in PostgreSQL');
        process.exit(1);
      }
      log.warn(
        { err: (err as Error).message },
        'could not register this ingest instance; retrying',
      );
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}
