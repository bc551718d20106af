import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresServerUrl } from './server-urls.js';

export interface TestDatabase {
  /** A fresh database of its own, already migrated. */
  databaseUrl: string;
  drop(): Promise<void>;
}

export interface ProvisionOptions {
  /** The migrations directory; its contents name the template, so a change rebuilds it. */
  migrationsDir: string;
  migrate: (databaseUrl: string) => Promise<unknown>;
}

const withDatabase = (serverUrl: string, database: string) => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

function templateName(migrationsDir: string): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(migrationsDir).sort()) {
    hash.update(file).update(readFileSync(join(migrationsDir, file)));
  }
  return `tripwire_tpl_${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Creates a database for one test file by copying a migrated template, which
 * is built once per migration set. Test files running in parallel (even from
 * different packages) take turns building the template under an advisory lock.
 */
export async function provisionDatabase(options: ProvisionOptions): Promise<TestDatabase> {
  const serverUrl = await postgresServerUrl();
  const admin = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  await admin.connect();
  const template = templateName(options.migrationsDir);
  const name = `tripwire_test_${randomBytes(6).toString('hex')}`;
  try {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', ['tripwire.test-template']);
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
        template,
      ]);
      if (!rowCount) {
        await admin.query(`DROP DATABASE IF EXISTS "${template}_building"`);
        await admin.query(`CREATE DATABASE "${template}_building"`);
        await options.migrate(withDatabase(serverUrl, `${template}_building`));
        await admin.query(`ALTER DATABASE "${template}_building" RENAME TO "${template}"`);
      }
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock(hashtext($1))', ['tripwire.test-template']);
    }
  } catch (err) {
    await admin.query(`DROP DATABASE IF EXISTS "${template}_building"`).catch(() => {});
    await admin.end();
    throw err;
  }
  await admin.end();
  return {
    databaseUrl: withDatabase(serverUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
