// The agent SDK against the real ingest service in-process, on this test file's own database
// and Redis prefix.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type AgentClient, type AgentClientOptions, createAgentClient } from '@tripwire/agent-sdk';
import { createRedisClient, redisBus } from '@tripwire/bus';
import { createIngestServer, type IngestServer, loadConfig } from '@tripwire/ingest';
import { createLogger, type Logger } from '@tripwire/logger';
import * as storage from '@tripwire/storage';
import { createPool, type Pool } from '@tripwire/storage';
import { type TestEnvironment, until, useTestEnvironment } from '@tripwire/test-fixtures';
import { afterAll } from 'vitest';

export { until };

export const ENROLLMENT_TOKEN = 'agent-sdk-test-enrollment-0123456789';

export type Environment = TestEnvironment<Pool>;

/** This test file's own migrated database and Redis key prefix, and a pool for assertions. */
export const useEnvironment = (): Environment => useTestEnvironment(storage);

/** A logger that keeps every line, for assertions on what was logged (and what never was). */
export function captureLog(name: string, level = 'debug') {
  const lines: string[] = [];
  const log: Logger = createLogger({
    name,
    level,
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  });
  return {
    log,
    lines,
    text: () => lines.join(''),
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface RunningIngest {
  server: IngestServer;
  address: string;
  grpcPort: number;
  /** /healthz, /readyz and /metrics. */
  httpUrl: string;
  logs: ReturnType<typeof captureLog>;
  stop(): Promise<void>;
}

export async function startIngest(
  env: Environment,
  overrides: Record<string, string> = {},
): Promise<RunningIngest> {
  const config = loadConfig({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    ENROLLMENT_TOKEN,
    GRPC_INSECURE: 'true',
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BUS_KEY_PREFIX: env.keyPrefix,
    MIGRATE_ON_START: 'false',
    BATCH_MAX_DELAY_MS: '5',
    SHUTDOWN_GRACE_MS: '5000',
    ...overrides,
  });
  const logs = captureLog('ingest');
  // The servers and timeouts of the config, as run-ingest.ts sets them up (overrides may name others).
  const pool = createPool({
    databaseUrl: config.DATABASE_URL,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    onIdleError: () => {},
  });
  const redis = createRedisClient(config.REDIS_URL, {
    failFastWhileDisconnected: true,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
  });
  const subscriberRedis = createRedisClient(config.REDIS_URL);
  const server = createIngestServer({
    config,
    pool,
    bus: redisBus({
      publisher: redis,
      subscriber: subscriberRedis,
      replyMarginMs: config.REDIS_COMMAND_TIMEOUT_MS,
    }),
    log: logs.log,
  });
  const { grpcPort, httpPort } = await server.start();
  let stopped = false;
  return {
    server,
    address: `127.0.0.1:${grpcPort}`,
    grpcPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      redis.disconnect();
      subscriberRedis.disconnect();
      await pool.end();
    },
  };
}

/** Agent clients with their own state folders, all stopped and removed after the file. */
export function useAgents() {
  const clients: AgentClient[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop().catch(() => {})));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    /** A state folder path that does not exist yet (the client creates it). */
    async stateDir(): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'tripwire-agent-'));
      dirs.push(dir);
      return join(dir, 'state');
    },
    create(options: Partial<AgentClientOptions> & Pick<AgentClientOptions, 'server' | 'stateDir'>) {
      const client = createAgentClient({ agentVersion: '0.1.0-test', ...options });
      clients.push(client);
      return client;
    },
  };
}

/** Every alert row for these ids: an id appearing twice would be a duplicate. */
export async function storedAlertIds(env: Environment, alertIds: string[]): Promise<string[]> {
  const { rows } = await env.pool.query<{ alert_id: string }>(
    'SELECT alert_id FROM alerts WHERE alert_id = ANY($1::uuid[])',
    [alertIds],
  );
  return rows.map((r) => r.alert_id);
}

export const draft = (n: number, over: Partial<Parameters<AgentClient['enqueue']>[0]> = {}) => ({
  tripwireType: 'FILE' as const,
  severity: 'CRITICAL' as const,
  ruleName: 'etc-passwd-watch',
  detail: { path: '/etc/passwd', n },
  ...over,
});

/** Ingest's Prometheus text for one metric's sample (0 if absent). */
export async function metricValue(ingest: RunningIngest, sample: string): Promise<number> {
  const text = await ingest.server.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.split(' ')[1]) : 0;
}
