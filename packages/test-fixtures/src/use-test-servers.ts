import { afterAll, beforeAll } from 'vitest';
import { type ProvisionOptions, provisionDatabase, type TestDatabase } from './test-database.js';
import { provisionRedis, type TestRedis } from './test-redis.js';

export interface TestServers {
  databaseUrl: string;
  redisUrl: string;
  /** Every Redis key this test file uses starts with it. */
  keyPrefix: string;
}

/**
 * A migrated database and a Redis key prefix of this test file's own, made in
 * beforeAll and removed in afterAll. The returned object is filled in by then.
 */
export function useTestServers(options: ProvisionOptions): TestServers {
  let db: TestDatabase | undefined;
  let redis: TestRedis | undefined;
  const servers = {} as TestServers;
  beforeAll(async () => {
    db = await provisionDatabase(options);
    redis = await provisionRedis();
    Object.assign(servers, {
      databaseUrl: db.databaseUrl,
      redisUrl: redis.redisUrl,
      keyPrefix: redis.keyPrefix,
    });
  });
  afterAll(async () => {
    await db?.drop();
    await redis?.cleanup();
  });
  return servers;
}
