import { parseCommandLine } from '@tripwire/config';

parseCommandLine({
  usage: `usage: node dist/main.js   (the fan-out service; pnpm --filter @tripwire/fanout start)

Serves the dashboard, the REST API and live alerts over WebSocket, from PostgreSQL and the Redis
bus. Takes no options: it is configured by environment variables (DATABASE_URL, REDIS_URL,
OPERATOR_JWT_SECRET, PORT, METRICS_PORT, limits…), each listed with its default in
docs/operations.md (Settings: Fan-out); a bad one is named at start, exit 2.`,
  options: {},
});
// Loaded once the command line is accepted: --help answers without loading the service.
const { runFanout } = await import('./run-fanout.js');
await runFanout();
