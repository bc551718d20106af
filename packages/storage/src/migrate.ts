import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { ensureAlertPartitions } from './partitions.js';

/** The SQL migrations shipped with this package (same path from src/ and dist/). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export interface MigrateOptions {
  databaseUrl: string;
  log?: (message: string) => void;
}

/**
 * Applies pending migrations, then makes sure the alert partitions for this
 * month and the next ones exist. Instances that start together queue on an
 * advisory lock (node-pg-migrate's own lock would make the losers fail), so
 * each migration is applied exactly once and every caller returns migrated.
 */
export async function migrateDatabase({ databaseUrl, log = () => {} }: MigrateOptions) {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'tripwire-migrate',
  });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', ['tripwire.migrate']);
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      checkOrder: true,
      noLock: true,
      log,
      verbose: false,
    });
    const created = await ensureAlertPartitions(client);
    return { applied: applied.map((m) => m.name), partitionsCreated: created };
  } finally {
    await client.end();
  }
}

/** Creates the database a URL names if it does not exist yet (for local runs; servers usually pre-create it). */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) return false;
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    return true;
  } finally {
    await client.end();
  }
}
