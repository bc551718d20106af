// `pnpm start`: the whole system in this process (ingest, fan-out, dashboard), with an
// embedded PostgreSQL and an in-memory bus unless DATABASE_URL / REDIS_URL name real servers.
import { fileURLToPath } from 'node:url';
import { stopOnSignals } from '@tripwire/lifecycle';
import { startTracing } from '@tripwire/tracing';
import { writeEnrollTokenFile } from './enroll-token-file.js';
import { startSingleProcess } from './single-process.js';

// Before anything is written: every file and folder this process creates (the embedded
// database, secrets.json) is readable by this user only. PGlite's own template files are
// tightened after its first start (private-files.ts).
process.umask(0o077);

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
