import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { type ChannelCredentials, credentials, type ServiceError } from '@grpc/grpc-js';
import {
  type BusEntry,
  type BusStream,
  BusSubscriber,
  createRedisClient,
  redisBus,
} from '@tripwire/bus';
import { createLogger } from '@tripwire/logger';
import {
  type AgentEvent,
  AlertServiceClient,
  type RegisterAgentResponse,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import * as storage from '@tripwire/storage';
import { createPool, type Pool } from '@tripwire/storage';
import { type TestEnvironment, useTestEnvironment } from '@tripwire/test-fixtures';
import type { Redis } from 'ioredis';
import { AgentSession, bearer, until } from './agent-session.js';

export { AgentSession, bearer, until };

import { loadConfig } from '../src/config.js';
import { createIngestServer, type IngestServer } from '../src/ingest-server.js';

export const ENROLLMENT_TOKEN = 'test-enrollment-token-0123456789';

export type Environment = TestEnvironment<Pool>;

/** This test file's own migrated database and Redis key prefix, and a pool for assertions. */
export const useEnvironment = (): Environment => useTestEnvironment(storage);

export interface RunningIngest {
  server: IngestServer;
  address: string;
  httpUrl: string;
  /** Every log line the service wrote, as text. */
  logs: string[];
  stop(): Promise<void>;
}

export async function startIngest(
  env: Environment,
  overrides: Record<string, string> = {},
  servers: { databaseUrl?: string; redisUrl?: string } = {},
): Promise<RunningIngest> {
  const config = loadConfig({
    DATABASE_URL: servers.databaseUrl ?? env.databaseUrl,
    REDIS_URL: servers.redisUrl ?? env.redisUrl,
    ENROLLMENT_TOKEN,
    GRPC_INSECURE: 'true',
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BUS_KEY_PREFIX: env.keyPrefix,
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'debug',
    SHUTDOWN_GRACE_MS: '5000',
    ...overrides,
  });
  const logs: string[] = [];
  const log = createLogger({
    name: 'ingest-test',
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  });
  const pool = createPool({ databaseUrl: config.DATABASE_URL, onIdleError: () => {} });
  const redis = createRedisClient(config.REDIS_URL, { failFastWhileDisconnected: true });
  const subscriberRedis = createRedisClient(config.REDIS_URL);
  const server = createIngestServer({
    config,
    pool,
    bus: redisBus({ publisher: redis, subscriber: subscriberRedis }),
    log,
  });
  let ports: { grpcPort: number; httpPort: number };
  try {
    ports = await server.start();
  } catch (err) {
    redis.disconnect();
    subscriberRedis.disconnect();
    await pool.end();
    throw err;
  }
  const { grpcPort, httpPort } = ports;
  let stopped = false;
  return {
    server,
    address: `127.0.0.1:${grpcPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      redis.disconnect();
      await pool.end();
    },
  };
}

export function connect(
  address: string,
  creds: ChannelCredentials = credentials.createInsecure(),
  options = {},
) {
  return new AlertServiceClient(address, creds, options);
}

export function register(
  client: AlertServiceClient,
  hostname: string,
  token = ENROLLMENT_TOKEN,
): Promise<RegisterAgentResponse> {
  return new Promise((resolve, reject) =>
    client.registerAgent(
      { hostname, platform: 'linux', agentVersion: '1.2.3' },
      bearer(token),
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

export function submit(client: AlertServiceClient, token: string, event: AgentEvent) {
  return new Promise<{ alertId: string; duplicate: boolean }>((resolve, reject) =>
    client.submitAlert(event, bearer(token), (err, res) => (err ? reject(err) : resolve(res))),
  );
}

export function event(hostId: string, over: Partial<AgentEvent> = {}): AgentEvent {
  return {
    alertId: randomUUID(),
    hostId,
    tripwireType: TripwireType.FILE,
    severity: Severity.CRITICAL,
    timestampUs: Date.now() * 1000,
    ruleName: 'etc-passwd-watch',
    eventDetailJson: JSON.stringify({ path: '/etc/passwd', pid: 1234 }),
    ...over,
  };
}

/** Reads a bus stream (`events` unless told) from its start, collecting every message. */
export function busReader(env: Environment, stream: BusStream = 'events') {
  const entries: BusEntry[] = [];
  const redis: Redis = createRedisClient(env.redisUrl);
  const subscriber = new BusSubscriber({
    redis,
    keyPrefix: env.keyPrefix,
    stream,
    from: '0-0',
    blockMs: 200,
    onEntries: (e) => entries.push(...e),
  });
  subscriber.start();
  return {
    entries,
    alertIds: () =>
      entries.flatMap((e) => (e.message.type === 'alert' ? [e.message.data.alert_id] : [])),
    /** Incident messages in stream order. */
    incidentEvents: () =>
      entries.flatMap((e) => (e.message.type === 'incident' ? [e.message.data] : [])),
    stop: () => subscriber.stop(),
  };
}

export const rowsFor = async (env: Environment, alertIds: string[]) =>
  (await env.pool.query('SELECT * FROM alerts WHERE alert_id = ANY($1::uuid[])', [alertIds])).rows;

export const errorCode = (err: unknown) => (err as ServiceError).code;
