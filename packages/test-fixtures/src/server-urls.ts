import { Socket } from 'node:net';
import { inject } from 'vitest';
import type { ProvidedServers } from './test-containers.js';

// Where the real servers are, in this order:
// 1. DATABASE_URL / REDIS_URL when set (CI and .ci/run set them);
// 2. throwaway containers, when a Docker engine is reachable: global-setup.ts starts them once
//    per vitest run and hands their URLs to every test file (provide / inject);
// 3. a server already listening on the standard local port.

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

/** What global-setup.ts provided; nothing outside a vitest run or in a config without it. */
function provided(): ProvidedServers {
  try {
    return inject('tripwire.testServers') ?? {};
  } catch {
    return {};
  }
}

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

async function locate(what: string, variable: string, local: string, container?: string) {
  const fromEnv = process.env[variable];
  if (fromEnv) return fromEnv;
  if (container) return container;
  if (await listening(local)) return local;
  const why = provided().dockerProblem ?? 'no globalSetup started containers for this run';
  throw new Error(
    `No ${what} for tests: set ${variable}, make a Docker engine reachable for testcontainers ` +
      `(${why}), or run ${what} on ${local}.`,
  );
}

export function postgresServerUrl(): Promise<string> {
  return locate('PostgreSQL', 'DATABASE_URL', LOCAL_POSTGRES, provided().postgresUrl);
}

export function redisServerUrl(): Promise<string> {
  return locate('Redis', 'REDIS_URL', LOCAL_REDIS, provided().redisUrl);
}
