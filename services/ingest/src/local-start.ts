// `pnpm start`: the ingest service against this machine's PostgreSQL and
// Redis, with a generated enrollment token, plaintext gRPC on localhost and
// readable logs. Anything already set in the environment wins.
import { randomBytes } from 'node:crypto';
import { ensureDatabaseExists } from '@tripwire/storage';
import { runIngest } from './run-ingest.js';

const env = { ...process.env };
env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/tripwire';
env.REDIS_URL ??= 'redis://127.0.0.1:6379';
env.ENROLLMENT_TOKEN ??= `twe_${randomBytes(24).toString('base64url')}`;
if (!env.GRPC_TLS_CERT_FILE) {
  env.GRPC_INSECURE ??= 'true';
  env.GRPC_HOST ??= '127.0.0.1';
}
env.HTTP_HOST ??= '127.0.0.1';
env.LOG_PRETTY ??= process.stdout.isTTY ? 'true' : 'false';

try {
  await ensureDatabaseExists(env.DATABASE_URL);
} catch (err) {
  console.error(`Cannot reach PostgreSQL at ${env.DATABASE_URL}: ${(err as Error).message}`);
  console.error('Start it, or set DATABASE_URL to a server you can reach.');
  process.exit(1);
}

const { ports } = await runIngest(env);
const target = `127.0.0.1:${ports.grpcPort}`;
console.log(`
TripWire ingest is running.
  gRPC (AlertService, health, reflection): ${target}
  health and metrics:                      http://127.0.0.1:${ports.httpPort}/readyz  /metrics
  enrollment token:                        ${env.ENROLLMENT_TOKEN}

Register a host and send an alert with grpcurl:
  grpcurl -plaintext -H 'authorization: Bearer ${env.ENROLLMENT_TOKEN}' \\
    -d '{"hostname":"demo-host","platform":"linux"}' ${target} tripwire.v1.AlertService/RegisterAgent
  grpcurl -plaintext -H 'authorization: Bearer <agent_token>' \\
    -d '{"alert_id":"'$(cat /proc/sys/kernel/random/uuid)'","host_id":"<host_id>","tripwire_type":"FILE","severity":"CRITICAL","rule_name":"etc-passwd","event_detail_json":"{\\"path\\":\\"/etc/passwd\\"}"}' \\
    ${target} tripwire.v1.AlertService/SubmitAlert
`);
