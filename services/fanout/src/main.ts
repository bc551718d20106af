import { parseCommandLine } from '@tripwire/config';
import { runFanout } from './run-fanout.js';

parseCommandLine({
  usage: `usage: node dist/main.js   (the fan-out service; pnpm --filter @tripwire/fanout start)

Serves the dashboard, the REST API and live alerts over WebSocket, from PostgreSQL and the Redis
bus. Takes no options: it is configured by environment variables (DATABASE_URL, REDIS_URL,
OPERATOR_JWT_SECRET, PORT, METRICS_PORT, limits…), each listed with its default in
docs/operations.md (Settings: Fan-out); a bad one is named at start, exit 2.`,
  options: {},
});
await runFanout();
