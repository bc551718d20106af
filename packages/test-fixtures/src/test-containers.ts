// The throwaway PostgreSQL and Redis containers (testcontainers), started by global-setup.ts
// once per test run when no server URL is set.

/** What global-setup.ts hands every test file (vitest `provide` / `inject`). */
export interface ProvidedServers {
  postgresUrl?: string;
  redisUrl?: string;
  /** Why no container could start (no Docker engine reachable). */
  dockerProblem?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    'tripwire.testServers': ProvidedServers;
  }
}

export interface StartedServer {
  url: string;
  stop: () => Promise<unknown>;
}

export async function startContainer(kind: 'postgres' | 'redis'): Promise<StartedServer> {
  if (kind === 'postgres') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:15-alpine').start();
    return { url: container.getConnectionUri(), stop: () => container.stop() };
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  return { url: container.getConnectionUrl(), stop: () => container.stop() };
}
