import { join } from 'node:path';
import { type Bus, createMemoryBus, createRedisClient, redisBus } from '@tripwire/bus';
import { loadConfigOrExit, redisSentinelOptions } from '@tripwire/config';
import {
  createFanoutServer,
  createOperatorAuth,
  loadConfig as loadFanoutConfig,
} from '@tripwire/fanout';
import {
  createIngestServer,
  type IngestConfig,
  loadConfig as loadIngestConfig,
} from '@tripwire/ingest';
import { createLogger, redactUrl } from '@tripwire/logger';
import { createPool, ensureDatabaseExists, migrateDatabase } from '@tripwire/storage';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';
import { loadLocalSecrets } from './local-secrets.js';

export interface SingleProcessOptions {
  /** Where the embedded database and the generated secrets live (`.tripwire/` in the repo). */
  homeDir: string;
  env?: Record<string, string | undefined>;
}

export interface RunningSystem {
  grpcTarget: string;
  dashboardUrl: string;
  probesUrl: string;
  enrollmentToken: string;
  /** Undefined when OPERATOR_ADMIN_TOKEN supplied it (it is not printed then). */
  generatedAdminToken: string | undefined;
  adminToken: string;
  /** What storage and bus are: for the banner. */
  storage: string;
  bus: string;
  stop(): Promise<void>;
}

/**
 * Ingest, fan-out and dashboard in this process. PostgreSQL is the one in
 * DATABASE_URL, or else PGlite in homeDir/pgdata served over the wire protocol;
 * the bus is Redis at REDIS_URL, or else in memory. Each choice is independent.
 */
export async function startSingleProcess({
  homeDir,
  env: given = process.env,
}: SingleProcessOptions): Promise<RunningSystem> {
  const secrets = loadLocalSecrets(homeDir);
  const env: Record<string, string | undefined> = {
    GRPC_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    HOST: '127.0.0.1',
    // The fan-out's /metrics port (METRICS_PORT): this machine only, like the others.
    METRICS_HOST: '127.0.0.1',
    LOG_PRETTY: process.stdout.isTTY ? 'true' : 'false',
    // An empty variable counts as unset (`DATABASE_URL= pnpm start` means "embedded").
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== '')),
  };
  env.ENROLLMENT_TOKEN ??= secrets.enrollmentToken;
  env.OPERATOR_JWT_SECRET ??= secrets.operatorJwtSecret;
  if (!env.GRPC_TLS_CERT_FILE) env.GRPC_INSECURE ??= 'true';

  let embedded: EmbeddedPostgres | undefined;
  // The logger needs the config, which needs the database URL: refusals are logged once it exists.
  let logRefused: ((reason: string, from: string | undefined) => void) | undefined;
  if (!env.DATABASE_URL) {
    embedded = await startEmbeddedPostgres({
      dataDir: join(homeDir, 'pgdata'),
      password: secrets.databasePassword,
      onRefused: (reason, from) => logRefused?.(reason, from),
    });
    env.DATABASE_URL = embedded.url;
  } else {
    await ensureDatabaseExists(env.DATABASE_URL);
  }
  const memoryBus = !env.REDIS_URL;
  // The services' schemas require REDIS_URL; with the memory bus nothing ever connects to it.
  env.REDIS_URL ??= 'redis://in-process.invalid:6379';

  const ingestConfig = loadConfigOrExit(() => loadIngestConfig(env));
  const fanoutConfig = loadConfigOrExit(() => loadFanoutConfig(env));
  const log = createLogger({
    name: 'tripwire',
    level: ingestConfig.LOG_LEVEL,
    pretty: ingestConfig.LOG_PRETTY,
  });
  const storage = embedded
    ? `embedded PostgreSQL (PGlite) in ${join(homeDir, 'pgdata')}, ${redactUrl(embedded.url)} (password in secrets.json)`
    : redactUrl(env.DATABASE_URL);
  const busLabel = memoryBus ? 'in memory (this process)' : redactUrl(env.REDIS_URL);
  logRefused = (reason, from) =>
    log.warn({ reason, from }, 'embedded PostgreSQL refused a connection');
  log.info({ storage, bus: busLabel }, 'starting ingest, fan-out and dashboard in one process');

  const migrated = await migrateDatabase({ databaseUrl: env.DATABASE_URL });
  log.info({ applied: migrated.applied }, 'database migrated');

  const onIdleError = (err: Error) =>
    log.warn({ err: err.message }, 'idle PostgreSQL connection failed');
  const timeouts = embedded ? {} : pgTimeouts(ingestConfig);
  const poolOptions = { databaseUrl: env.DATABASE_URL, onIdleError, ...timeouts };
  const ingestPool = createPool({ ...poolOptions, applicationName: 'tripwire-ingest' });
  const fanoutPool = createPool({ ...poolOptions, applicationName: 'tripwire-fanout' });

  const redisConnections: Array<{ disconnect(): void }> = [];
  const busFor = (name: string): Bus => {
    const onError = (err: Error) => log.debug({ err: err.message }, 'Redis connection error');
    const publisher = createRedisClient(ingestConfig.REDIS_URL, {
      ...redisSentinelOptions(ingestConfig),
      failFastWhileDisconnected: true,
      connectionName: `tripwire-${name}-publisher`,
      commandTimeoutMs: ingestConfig.REDIS_COMMAND_TIMEOUT_MS,
      onError,
    });
    const subscriber = createRedisClient(ingestConfig.REDIS_URL, {
      ...redisSentinelOptions(ingestConfig),
      connectionName: `tripwire-${name}-subscriber`,
      onError,
    });
    redisConnections.push(publisher, subscriber);
    const replyMarginMs = ingestConfig.REDIS_COMMAND_TIMEOUT_MS;
    return redisBus({ publisher, subscriber, replyMarginMs });
  };
  const shared = memoryBus
    ? createMemoryBus({ historyMaxLength: ingestConfig.BUS_HISTORY_MAX_LENGTH })
    : undefined;

  const ingest = createIngestServer({
    config: ingestConfig,
    pool: ingestPool,
    bus: shared ?? busFor('ingest'),
    log: log.child({ service: 'ingest' }),
  });
  const fanout = createFanoutServer({
    config: fanoutConfig,
    pool: fanoutPool,
    bus: shared ?? busFor('fanout'),
    log: log.child({ service: 'fanout' }),
  });
  const { grpcPort, httpPort } = await ingest.start();
  const { port } = await fanout.start();

  const auth = createOperatorAuth(fanoutConfig.OPERATOR_JWT_SECRET);
  let adminToken = env.OPERATOR_ADMIN_TOKEN;
  let generatedAdminToken: string | undefined;
  if (adminToken) {
    await auth.verify(adminToken).catch((err: Error) => {
      log.warn(
        { reason: err.message },
        'OPERATOR_ADMIN_TOKEN is not signed with OPERATOR_JWT_SECRET: it will not sign in',
      );
    });
  } else {
    const saved = await auth.verify(secrets.adminToken ?? null).then(
      () => secrets.adminToken,
      () => undefined,
    );
    generatedAdminToken = saved ?? (await auth.issue('admin', 'admin'));
    if (!saved) secrets.save({ adminToken: generatedAdminToken });
    adminToken = generatedAdminToken;
  }

  return {
    grpcTarget: `${ingestConfig.GRPC_HOST}:${grpcPort}`,
    dashboardUrl: `http://${fanoutConfig.HOST}:${port}/`,
    probesUrl: `http://${ingestConfig.HTTP_HOST}:${httpPort}/`,
    enrollmentToken: ingestConfig.ENROLLMENT_TOKEN,
    generatedAdminToken,
    adminToken,
    storage,
    bus: busLabel,
    async stop() {
      // Ingest first: its last alerts are committed and published before the fan-out goes.
      await ingest.stop();
      await fanout.stop();
      for (const c of redisConnections) c.disconnect();
      await Promise.all([ingestPool.end(), fanoutPool.end()]);
      await embedded?.stop();
      log.info('stopped');
    },
  };
}

/**
 * The service pools' PostgreSQL limits, for an external server only: the
 * embedded PGlite serves one session at a time and is not what they guard.
 */
function pgTimeouts(config: IngestConfig) {
  return {
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
}
