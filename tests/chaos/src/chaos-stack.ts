// Everything the run starts: a fresh PostgreSQL database on the shared server, a Redis of its
// own, a fault proxy in front of each dependency of each service, 2 ingest and 2 fan-out
// processes from their builds. Alerts go agent → ingest → PostgreSQL + Redis → fan-out.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { ensureDatabaseExists, migrateDatabase } from '@tripwire/storage';
import pg from 'pg';
import { FaultProxy } from './fault-proxy.js';
import { OwnRedis } from './own-redis.js';
import { ServiceProcess } from './service-process.js';

export interface Instance {
  process: ServiceProcess;
  /** Between this instance and PostgreSQL. */
  pgProxy: FaultProxy;
  /** Between this instance and Redis. */
  redisProxy: FaultProxy;
}

export interface ChaosStack {
  databaseUrl: string;
  redis: OwnRedis;
  ingests: Instance[];
  fanouts: Instance[];
  enrollmentToken: string;
  operatorJwtSecret: string;
  /** "a:port,b:port" for the agents. */
  ingestAddresses: string;
  fanoutWsUrls: string[];
  stop(): Promise<void>;
}

/**
 * A free port below the kernel's ephemeral range. A service comes back on the same port after
 * each kill -9; a port from the ephemeral range could meanwhile be taken as the local end of one
 * of the run's many outgoing connections, and the restart would fail to listen.
 */
export async function freePort(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const ephemeralLow = Number(range.split(/\s+/)[0]) || 32_768;
  const low = Math.min(10_000, ephemeralLow - 1_000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    // Free now is not enough: a port handed out earlier may not be listened on yet.
    if (!handedOut.has(port) && (await canListen(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const secret = () => randomBytes(24).toString('hex');

export async function startChaosStack(serverUrl: string, instances = 2): Promise<ChaosStack> {
  const databaseUrl = await freshDatabase(serverUrl);
  const redis = new OwnRedis(await freePort());
  await redis.start();
  const enrollmentToken = secret();
  const operatorJwtSecret = secret();
  const pgTarget = new URL(databaseUrl);
  const proxies = async () => {
    const pgProxy = new FaultProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    const redisProxy = new FaultProxy('127.0.0.1', redis.port);
    await Promise.all([pgProxy.start(), redisProxy.start()]);
    return { pgProxy, redisProxy };
  };
  const ingests: Instance[] = [];
  const fanouts: Instance[] = [];
  const grpcPorts: number[] = [];
  const fanoutWsUrls: string[] = [];
  for (let i = 0; i < instances; i++) {
    const p = await proxies();
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    grpcPorts.push(grpcPort);
    const env = {
      DATABASE_URL: p.pgProxy.url(databaseUrl),
      REDIS_URL: p.redisProxy.url(redis.url),
      ENROLLMENT_TOKEN: enrollmentToken,
      GRPC_INSECURE: 'true',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      MIGRATE_ON_START: 'false',
      SHUTDOWN_GRACE_MS: '2000',
      LOG_LEVEL: 'warn',
    };
    const ready = `http://127.0.0.1:${httpPort}/readyz`;
    ingests.push({ process: new ServiceProcess(`ingest-${i + 1}`, 'ingest', env, ready), ...p });
  }
  for (let i = 0; i < instances; i++) {
    const p = await proxies();
    const [port, metricsPort] = [await freePort(), await freePort()];
    const env = {
      DATABASE_URL: p.pgProxy.url(databaseUrl),
      REDIS_URL: p.redisProxy.url(redis.url),
      OPERATOR_JWT_SECRET: operatorJwtSecret,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      // Clients here resume far more often than browsers: the caps must not be what is measured.
      WS_RESUMES_PER_MINUTE: '100000',
      WS_MAX_CONNECTIONS_PER_OPERATOR: '10000',
      SHUTDOWN_DRAIN_MS: '1000',
      LOG_LEVEL: 'warn',
    };
    const ready = `http://127.0.0.1:${port}/readyz`;
    fanoutWsUrls.push(`ws://127.0.0.1:${port}/ws/alerts`);
    fanouts.push({ process: new ServiceProcess(`fanout-${i + 1}`, 'fanout', env, ready), ...p });
  }
  const all = [...ingests, ...fanouts];
  const started = await Promise.all(all.map((s) => s.process.start(60_000)));
  const notReady = all.filter((_, i) => !started[i]).map((s) => s.process);
  const stop = async () => {
    await Promise.all(all.map((s) => s.process.stop()));
    await Promise.all(all.flatMap((s) => [s.pgProxy.close(), s.redisProxy.close()]));
    await redis.kill();
    await dropDatabase(databaseUrl);
  };
  if (notReady.length) {
    const why = notReady.map((p) => `${p.label}:\n  ${p.output.join('\n  ')}`).join('\n');
    await stop();
    throw new Error(
      `services did not become ready (is the build current? pnpm chaos builds):\n${why}`,
    );
  }
  return {
    databaseUrl,
    redis,
    ingests,
    fanouts,
    enrollmentToken,
    operatorJwtSecret,
    ingestAddresses: grpcPorts.map((p) => `127.0.0.1:${p}`).join(','),
    fanoutWsUrls,
    stop,
  };
}

/** A database of the run's own, migrated with the storage migrations. */
async function freshDatabase(serverUrl: string): Promise<string> {
  const url = new URL(serverUrl);
  url.pathname = `/tripwire_chaos_${randomBytes(5).toString('hex')}`;
  await ensureDatabaseExists(url.toString());
  await migrateDatabase({ databaseUrl: url.toString() });
  return url.toString();
}

async function dropDatabase(databaseUrl: string) {
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
