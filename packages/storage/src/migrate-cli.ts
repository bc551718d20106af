// Applies migrations on their own: `pnpm migrate` (dev) or `node dist/migrate-cli.js` (images).
import { exitWithUsage, parseCommandLine } from '@tripwire/config';
import { migrateDatabase } from './migrate.js';

const USAGE = `usage: migrate-cli   (pnpm migrate; node dist/migrate-cli.js in the images)

Applies every pending SQL migration (packages/storage/migrations) to the database named by
DATABASE_URL and creates the alert partitions ahead; already applied ones are skipped, so it is
safe to run at every deploy. Takes no options: the URL (and its password) stays in the
environment, off the command line.`;

parseCommandLine({ usage: USAGE, options: {} });
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl)
  exitWithUsage(USAGE, 'DATABASE_URL is not set: point it at the PostgreSQL server to migrate.');
try {
  const result = await migrateDatabase({ databaseUrl });
  console.log(
    `migrations applied: ${result.applied.length === 0 ? 'none (up to date)' : result.applied.join(', ')}; ` +
      `alert partitions created: ${result.partitionsCreated}`,
  );
} catch (err) {
  console.error(`migration failed: ${(err as Error).message}`);
  process.exit(1);
}
