import { provisionDatabase, type TestDatabase } from '@tripwire/test-fixtures';
import { afterAll, beforeAll } from 'vitest';
import { MIGRATIONS_DIR, migrateDatabase } from '../src/migrate.js';
import { createPool, type Pool } from '../src/pool.js';

/** A migrated database of this test file's own, and a pool on it. */
export function useTestDatabase(): { readonly pool: Pool; readonly databaseUrl: string } {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await provisionDatabase({
      migrationsDir: MIGRATIONS_DIR,
      migrate: (databaseUrl) => migrateDatabase({ databaseUrl }),
    });
    pool = createPool({ databaseUrl: db.databaseUrl });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  return {
    get pool() {
      return pool;
    },
    get databaseUrl() {
      return db.databaseUrl;
    },
  };
}
