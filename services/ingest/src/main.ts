import { parseCommandLine } from '@tripwire/config';

parseCommandLine({
  usage: `usage: node dist/main.js   (the ingest service; pnpm --filter @tripwire/ingest start)

Receives agents' alert streams over gRPC, stores them in PostgreSQL and publishes them on the
Redis bus. Takes no options: it is configured by environment variables (DATABASE_URL,
REDIS_URL, ENROLLMENT_TOKEN, GRPC_PORT, HTTP_PORT, TLS, limits…), each listed with its default
in docs/operations.md (Settings: Ingest); a bad one is named at start, exit 2.`,
  options: {},
});
// Loaded once the command line is accepted: --help answers without loading the service.
const { runIngest } = await import('./run-ingest.js');
await runIngest();
