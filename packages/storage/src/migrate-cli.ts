// Applies migrations on their own: `pnpm migrate` (dev) or `node dist/migrate-cli.js` (images).
import { migrateDatabase } from './migrate.js';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('DATABASE_URL is not set: point it at the PostgreSQL server to migrate.');
  process.exit(2);
}
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
