import type { TestProject } from 'vitest/node';
import { type ProvidedServers, startContainer } from './test-containers.js';

// vitest `globalSetup` (every package's vitest.config.ts names this file): when DATABASE_URL
// or REDIS_URL is not set, the throwaway containers start here, ONCE for the whole run, and
// every test file reads their URLs through `inject` (server-urls.ts); they stop when the run
// ends. With both URLs set (CI, .ci/run) this does nothing and never loads testcontainers.

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers: ProvidedServers = {};
  const stops: Array<() => Promise<unknown>> = [];
  try {
    if (!process.env.DATABASE_URL) {
      const started = await startContainer('postgres');
      servers.postgresUrl = started.url;
      stops.push(started.stop);
    }
    if (!process.env.REDIS_URL) {
      const started = await startContainer('redis');
      servers.redisUrl = started.url;
      stops.push(started.stop);
    }
  } catch (err) {
    // No Docker engine: test files fall back to a server on the standard local port, and
    // say why the containers are missing when there is none.
    servers.dockerProblem = (err as Error).message;
  }
  project.provide('tripwire.testServers', servers);
  return async () => {
    await Promise.allSettled(stops.map((stop) => stop()));
  };
}
