import { randomBytes, randomUUID } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import {
  type AlertEventData,
  type BusMessage,
  BusPublisher,
  createRedisClient,
  redisBus,
  serializeAlertMessage,
} from '@tripwire/bus';
import { redisSentinelOptions } from '@tripwire/config';
import { createIngestServer, loadConfig as loadIngestConfig } from '@tripwire/ingest';
import { createLogger } from '@tripwire/logger';
import { AlertServiceClient } from '@tripwire/proto';
import * as storage from '@tripwire/storage';
import { createPool, type Pool } from '@tripwire/storage';
import { type TestEnvironment, until, useTestEnvironment } from '@tripwire/test-fixtures';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';

export { until };

import { loadConfig } from '../src/config.js';
import { createFanoutServer, type FanoutServer } from '../src/fanout-server.js';
import { createOperatorAuth } from '../src/operator-auth.js';
import { contract, fetchDocumented } from './openapi-contract.js';

export const JWT_SECRET = 'test-operator-secret-0123456789abcdef';
export const auth = createOperatorAuth(JWT_SECRET);

export interface Environment extends TestEnvironment<Pool> {
  /** Publishes on the bus exactly as the ingest service does. */
  publisher: BusPublisher;
}

/** This test file's own migrated database and Redis key prefix, a pool, and a bus publisher. */
export function useEnvironment(): Environment {
  const env = useTestEnvironment(storage) as Environment;
  beforeAll(() => {
    env.publisher = new BusPublisher({
      redis: createRedisClient(env.redisUrl, { failFastWhileDisconnected: true }),
      keyPrefix: env.keyPrefix,
    });
  });
  afterAll(() => env.publisher?.close());
  return env;
}

export interface RunningFanout {
  server: FanoutServer;
  port: number;
  url: string;
  wsUrl: string;
  /** /metrics, on METRICS_PORT (not the public port). */
  metricsUrl: string;
  logs: string[];
  stop(): Promise<void>;
}

export async function startFanout(
  env: Environment,
  overrides: Record<string, string> = {},
  redisUrl = env.redisUrl,
): Promise<RunningFanout> {
  const config = loadConfig({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: redisUrl,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_HOST: '127.0.0.1',
    METRICS_PORT: '0',
    BUS_KEY_PREFIX: env.keyPrefix,
    LOG_LEVEL: 'debug',
    SHUTDOWN_DRAIN_MS: '2000',
    ...overrides,
  });
  const logs: string[] = [];
  const log = createLogger({
    name: 'fanout-test',
    level: 'debug',
    destination: { write: (s: string) => void logs.push(s) },
  });
  // The timeouts of the config, as run-fanout.ts sets them up.
  const pool = createPool({
    databaseUrl: config.DATABASE_URL,
    statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
    onIdleError: () => {},
  });
  const sentinel = redisSentinelOptions(config);
  const subscriberRedis = createRedisClient(config.REDIS_URL, sentinel);
  const publisherRedis = createRedisClient(config.REDIS_URL, {
    ...sentinel,
    failFastWhileDisconnected: true,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
  });
  const server = createFanoutServer({
    config,
    pool,
    bus: redisBus({
      publisher: publisherRedis,
      subscriber: subscriberRedis,
      replyMarginMs: config.REDIS_COMMAND_TIMEOUT_MS,
    }),
    log,
  });
  const { port, metricsPort } = await server.start();
  let stopped = false;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws/alerts`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      publisherRedis.disconnect();
      await pool.end();
    },
  };
}

export function alertData(over: Partial<AlertEventData> = {}): AlertEventData {
  const now = new Date();
  return {
    alert_id: randomUUID(),
    host_id: randomUUID(),
    hostname: 'web-01',
    timestamp: now.toISOString(),
    timestamp_us: now.getTime() * 1000,
    received_at: now.toISOString(),
    tripwire_type: 'FILE',
    rule_name: 'etc-passwd-watch',
    severity: 'CRITICAL',
    event_detail: { path: '/etc/passwd' },
    ...over,
  };
}

/** Publishes alerts the way the ingest service does. */
export function publishAlerts(env: Environment, alerts: AlertEventData[]) {
  env.publisher.publishSerialized(
    alerts.map(({ event_detail, ...rest }) =>
      serializeAlertMessage(rest, JSON.stringify(event_detail)),
    ),
  );
}

/** A host of the test's own (alerts need one in PostgreSQL). */
export async function testHost(pool: Pool, hostname = 'web-01'): Promise<storage.Host> {
  return storage.upsertHost(pool, {
    hostname,
    platform: 'linux',
    agentVersion: '1.0.0',
    agentTokenHash: randomBytes(32),
  });
}

/** Stores alerts as one ingest flush does (one received_at), and returns them as the bus then carries them. */
export async function storeAlerts(
  pool: Pool,
  alerts: AlertEventData[],
  receivedAt?: Date,
): Promise<AlertEventData[]> {
  const outcome = await storage.insertAlerts(
    pool,
    alerts.map((a) => ({
      alertId: a.alert_id,
      hostId: a.host_id,
      occurredAtUs: a.timestamp_us,
      tripwireType: a.tripwire_type,
      severity: a.severity,
      ruleName: a.rule_name,
      eventDetailJson: JSON.stringify(a.event_detail),
    })),
    receivedAt ? { receivedAt } : {},
  );
  const at = outcome.stored[0]!.receivedAt.toISOString();
  return alerts.map((a) => ({ ...a, received_at: at }));
}

export function publishMessages(env: Environment, messages: BusMessage[]) {
  env.publisher.publish(messages);
}

/**
 * Publishes a marker alert (CRITICAL, of `over.host_id` or a new host) and waits until `browser`
 * has it. The fan-out reads the bus in order, so everything published before the marker has then
 * been dealt with: a frame the browser has not got by now was not sent. This bounds "nothing else
 * arrives" by an event instead of a sleep (and, with an unfiltered browser as witness, waits until
 * the fan-out has caught up with the bus).
 */
export async function passMarker(
  env: Environment,
  browser: Browser,
  over: Partial<AlertEventData> = {},
): Promise<string> {
  const marker = alertData(over);
  publishAlerts(env, [marker]);
  await until(() => browser.alertIds().includes(marker.alert_id), 10_000, 'the marker alert');
  return marker.alert_id;
}

type Frame = { type: string; [k: string]: unknown };

/** A real WebSocket client (the ws package) that records every frame. */
export class Browser {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  unexpectedResponse: { status: number; body: string } | null = null;

  constructor(
    url: string,
    options: {
      token?: string;
      query?: Record<string, string>;
      origin?: string;
      /** An array sends one header line per value. */
      headers?: Record<string, string | string[]>;
    } = {},
  ) {
    const u = new URL(url);
    for (const [k, v] of Object.entries(options.query ?? {})) u.searchParams.set(k, v);
    this.ws = new WebSocket(u, {
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.headers ?? {}),
      },
      origin: options.origin,
    });
    this.ws.on('message', (data) => this.frames.push(JSON.parse(String(data))));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          this.unexpectedResponse = { status: res.statusCode ?? 0, body };
          reject(new Error(`upgrade refused: ${res.statusCode} ${body}`));
        });
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }

  send(message: unknown) {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  alerts(): Array<{ position: string; data: AlertEventData }> {
    return this.frames.filter((f) => f.type === 'alert') as never;
  }

  alertIds(): string[] {
    return this.alerts().map((f) => f.data.alert_id);
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close() {
    this.ws.close();
  }
}

export const ENROLLMENT_TOKEN = 'test-enrollment-token-0123456789';

/** The ingest service in-process on a free port, and a gRPC client to it. */
export async function startIngest(servers: {
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
}) {
  const config = loadIngestConfig({
    DATABASE_URL: servers.databaseUrl,
    REDIS_URL: servers.redisUrl,
    ENROLLMENT_TOKEN,
    GRPC_INSECURE: 'true',
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    BUS_KEY_PREFIX: servers.keyPrefix,
    MIGRATE_ON_START: 'false',
    BATCH_MAX_DELAY_MS: '5',
    LOG_LEVEL: 'silent',
  });
  const pool = createPool({ databaseUrl: servers.databaseUrl });
  const redis = createRedisClient(servers.redisUrl, { failFastWhileDisconnected: true });
  const ingest = createIngestServer({
    config,
    pool,
    bus: redisBus({ publisher: redis, subscriber: createRedisClient(servers.redisUrl) }),
    log: createLogger({ name: 'ingest', level: 'silent' }),
  });
  const { grpcPort } = await ingest.start();
  const client = new AlertServiceClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  return {
    client,
    /** The in-process service, for its metrics. */
    server: ingest,
    async stop() {
      client.close();
      await ingest.stop();
      redis.disconnect();
      await pool.end();
    },
  };
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers field by field
  body: any;
}

/**
 * A REST call as a browser makes it: JSON in, JSON out (a string body is sent as is). Every
 * answer is checked against openapi.yaml (openapi-contract.ts): an operation, status, content
 * type or field the document does not describe fails the test that got it.
 */
export async function callApi(
  baseUrl: string,
  path: string,
  options: {
    token?: string;
    method?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiAnswer> {
  const method = options.method ?? 'GET';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.headers ?? {}),
    },
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body),
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type');
  contract().check({ method, path, status: res.status, contentType, body: text });
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/**
 * Signs in as the dashboard does (`POST /api/session` with the page's Origin) and returns the
 * `Cookie` header value the browser would then send: `tw_session=<session id>`.
 */
export async function signIn(baseUrl: string, token: string): Promise<string> {
  const res = await fetchDocumented(`${baseUrl}/api/session`, {
    method: 'POST',
    headers: { origin: baseUrl, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (res.status !== 200) throw new Error(`sign-in refused: ${res.status} ${await res.text()}`);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}
