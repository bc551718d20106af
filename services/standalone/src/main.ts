// `pnpm start`: the whole system in this process (ingest, fan-out, dashboard), with an
// embedded PostgreSQL and an in-memory bus unless DATABASE_URL / REDIS_URL name real servers.
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '@tripwire/config';
import { stopOnSignals } from '@tripwire/lifecycle';
import { startTracing } from '@tripwire/tracing';
import { writeEnrollTokenFile } from './enroll-token-file.js';
import { startSingleProcess } from './single-process.js';

// Before anything is written: every file and folder this process creates (the embedded
// database, secrets.json) is readable by this user only. PGlite's own template files are
// tightened after its first start (private-files.ts).
process.umask(0o077);

parseCommandLine({
  usage: `usage: pnpm start   (services/standalone)

Runs the whole system in this process: the ingest service (gRPC on 127.0.0.1:50051), the
fan-out service and the dashboard (http://127.0.0.1:8080/), on an embedded PostgreSQL (PGlite)
and an in-memory bus, and prints the admin token, the enrollment token and the command that
starts a demo agent. Ctrl-C stops it; data and tokens stay in TRIPWIRE_HOME. Takes no options.

Environment (each optional):
  TRIPWIRE_HOME          data and secrets (default .tripwire at the repository root)
  DATABASE_URL           a real PostgreSQL instead of the embedded one (created if missing)
  REDIS_URL              a real Redis bus instead of the in-memory one
  ENROLLMENT_TOKEN, OPERATOR_JWT_SECRET, OPERATOR_ADMIN_TOKEN   replace the generated secrets
  GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE                         gRPC over TLS
  and every variable of the ingest and fan-out services (docs/operations.md).`,
  options: {},
});

// `.tripwire/` at the repo root (git-ignored); the same path from src/ and dist/.
const homeDir =
  process.env.TRIPWIRE_HOME ?? fileURLToPath(new URL('../../../.tripwire', import.meta.url));

// Off (nothing loaded) unless OTEL_EXPORTER_OTLP_ENDPOINT is set: docs/operations.md#tracing.
const tracing = await startTracing('tripwire');
let system: Awaited<ReturnType<typeof startSingleProcess>>;
try {
  system = await startSingleProcess({ homeDir });
} catch (err) {
  console.error(`TripWire could not start: ${(err as Error).message}`);
  process.exit(1);
}
stopOnSignals(() => system.stop().finally(tracing.shutdown));

const tokenFile = writeEnrollTokenFile(homeDir, system.enrollmentToken);
const agentCommand = [
  'pnpm --filter @tripwire/agent agent demo',
  `--server ${system.grpcTarget}`,
  process.env.GRPC_TLS_CERT_FILE ? '--tls-ca <ca.pem>' : '--insecure',
  `--enroll-token-file ${tokenFile}`,
  '--state-dir .tripwire/demo-agent --rate 5',
].join(' ');

console.log(`
TripWire is running (ingest, fan-out and dashboard in this process).
  storage:          ${system.storage}
  bus:              ${system.bus}

  Dashboard:        ${system.dashboardUrl}   (sign in with the admin token)
  admin token:      ${system.generatedAdminToken ?? '(the one in OPERATOR_ADMIN_TOKEN)'}
  gRPC for agents:  ${system.grpcTarget}   (health and metrics: ${system.probesUrl}readyz)
  enrollment token: ${system.enrollmentToken}   (also in ${tokenFile}, mode 0600)

Start a demo agent (synthetic alerts, 5 a second) in another terminal:
  ${agentCommand}

Ctrl-C stops everything; data and tokens are kept in ${homeDir}.
`);
