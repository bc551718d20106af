import { defineConfig } from 'vitest/config';

// Resolve workspace packages to their TypeScript source (the @tripwire/source export condition).
const conditions = ['@tripwire/source', 'module', 'node', 'development|production'];
// Starts PostgreSQL/Redis containers once per run when DATABASE_URL/REDIS_URL are unset.
const globalSetup = ['../../packages/test-fixtures/src/global-setup.ts'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: { testTimeout: 30_000, hookTimeout: 60_000, globalSetup },
});
