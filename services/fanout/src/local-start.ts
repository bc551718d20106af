// `pnpm start` (with the ingest service): the fan-out service against this machine's
// PostgreSQL and Redis, with a generated signing secret and admin token.
import { randomBytes } from 'node:crypto';
import { createOperatorAuth } from './operator-auth.js';
import { runFanout } from './run-fanout.js';

const env = { ...process.env };
env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/tripwire';
env.REDIS_URL ??= 'redis://127.0.0.1:6379';
env.OPERATOR_JWT_SECRET ??= randomBytes(32).toString('base64url');
env.HOST ??= '127.0.0.1';
env.LOG_PRETTY ??= process.stdout.isTTY ? 'true' : 'false';

// The ingest service (started alongside by `pnpm start`) creates and migrates the database;
// until it has, /readyz says so.
const { port } = await runFanout(env);
const admin = await createOperatorAuth(env.OPERATOR_JWT_SECRET).issue('admin', 'admin');
console.log(`
TripWire fan-out is running.
  Dashboard:   http://127.0.0.1:${port}/   (sign in with the admin token below)
  WebSocket:   ws://127.0.0.1:${port}/ws/alerts?access_token=<token>[&severity=CRITICAL][&type=FILE][&host_id=…]
  REST API:    http://127.0.0.1:${port}/api/alerts   (OpenAPI: services/fanout/openapi.yaml)
  admin token: ${admin}
`);
