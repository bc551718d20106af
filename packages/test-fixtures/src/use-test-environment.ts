import { afterAll, beforeAll } from 'vitest';
import { provisionDatabase, type TestDatabase } from './test-database.js';
import { provisionRedis, type TestRedis } from './test-redis.js';

export interface TestServers {
  databaseUrl: string;
  redisUrl: string;
  /** Every Redis key this test file uses starts with it. */
  keyPrefix: string;
}

/**
 * What the environment needs from @tripwire/storage, passed in (`import * as storage from
 * '@tripwire/storage'`): storage's own tests use this package, so it cannot depend on storage.
 */
export interface StorageKit<P extends { end(): Promise<void> }> {
  MIGRATIONS_DIR: string;
  migrateDatabase(options: { databaseUrl: string }): Promise<unknown>;
  createPool(options: { databaseUrl: string }): P;
}

export interface TestEnvironment<P> extends TestServers {
  /** For assertions on what is really in PostgreSQL. */
  pool: P;
}

/**
 * This test file's own migrated database (a copy of the migrated template), its own Redis key
 * prefix and a pool on the database: made in beforeAll, removed in afterAll. The returned
 * object is filled in by the time the file's own beforeAll hooks run, which may add to it.
 */
export function useTestEnvironment<P extends { end(): Promise<void> }>(
  storage: StorageKit<P>,
): TestEnvironment<P> {
  let db: TestDatabase | undefined;
  let redis: TestRedis | undefined;
  const env = {} as TestEnvironment<P>;
  beforeAll(async () => {
    db = await provisionDatabase({
      migrationsDir: storage.MIGRATIONS_DIR,
      migrate: (databaseUrl) => storage.migrateDatabase({ databaseUrl }),
    });
    redis = await provisionRedis();
    Object.assign(env, {
      databaseUrl: db.databaseUrl,
      redisUrl: redis.redisUrl,
      keyPrefix: redis.keyPrefix,
      pool: storage.createPool({ databaseUrl: db.databaseUrl }),
    });
  });
  afterAll(async () => {
    await env.pool?.end();
    await db?.drop();
    await redis?.cleanup();
  });
  return env;
}
