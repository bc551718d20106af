// Where the real servers are: DATABASE_URL / REDIS_URL when set (CI and this
// machine), otherwise throwaway containers when a Docker engine is reachable.

let postgresContainer: Promise<string> | undefined;
let redisContainer: Promise<string> | undefined;

const noServer = (what: string, variable: string, cause: unknown) =>
  new Error(
    `No ${what} for tests: set ${variable} (e.g. via .ci/run), or make a Docker engine reachable ` +
      `so testcontainers can start one. Docker said: ${(cause as Error).message}`,
  );

export function postgresServerUrl(): Promise<string> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return Promise.resolve(fromEnv);
  postgresContainer ??= (async () => {
    try {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const c = await new PostgreSqlContainer('postgres:15-alpine').start();
      return c.getConnectionUri();
    } catch (err) {
      throw noServer('PostgreSQL', 'DATABASE_URL', err);
    }
  })();
  return postgresContainer;
}

export function redisServerUrl(): Promise<string> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) return Promise.resolve(fromEnv);
  redisContainer ??= (async () => {
    try {
      const { RedisContainer } = await import('@testcontainers/redis');
      const c = await new RedisContainer('redis:7-alpine').start();
      return c.getConnectionUrl();
    } catch (err) {
      throw noServer('Redis', 'REDIS_URL', err);
    }
  })();
  return redisContainer;
}
