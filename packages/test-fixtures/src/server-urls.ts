import { Socket } from 'node:net';

// Where the real servers are, in this order:
// 1. DATABASE_URL / REDIS_URL when set (CI and .ci/run set them);
// 2. throwaway containers, when a Docker engine is reachable (testcontainers);
// 3. a server already listening on the standard local port.

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

let postgres: Promise<string> | undefined;
let redis: Promise<string> | undefined;

function listening(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(u.port), u.hostname, () => done(true));
  });
}

async function locate(
  what: string,
  variable: string,
  local: string,
  container: () => Promise<string>,
) {
  const fromEnv = process.env[variable];
  if (fromEnv) return fromEnv;
  let dockerProblem: string;
  try {
    return await container();
  } catch (err) {
    dockerProblem = (err as Error).message;
  }
  if (await listening(local)) return local;
  throw new Error(
    `No ${what} for tests: set ${variable}, make a Docker engine reachable for testcontainers ` +
      `(${dockerProblem}), or run ${what} on ${local}.`,
  );
}

export function postgresServerUrl(): Promise<string> {
  postgres ??= locate('PostgreSQL', 'DATABASE_URL', LOCAL_POSTGRES, async () => {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    return (await new PostgreSqlContainer('postgres:15-alpine').start()).getConnectionUri();
  });
  return postgres;
}

export function redisServerUrl(): Promise<string> {
  redis ??= locate('Redis', 'REDIS_URL', LOCAL_REDIS, async () => {
    const { RedisContainer } = await import('@testcontainers/redis');
    return (await new RedisContainer('redis:7-alpine').start()).getConnectionUrl();
  });
  return redis;
}
