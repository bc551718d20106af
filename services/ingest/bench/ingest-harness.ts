/**
 * What the ingest benchmarks share (ingest-bench.ts, scale-ingest.ts and its agent processes,
 * scale-agents.ts): realistic alerts, the ingest service started from its build as its own
 * process, agent registration, a gRPC client that sends pre-encoded batches, a fleet streaming
 * through it (runAgents, optionally traced), and the meter of
 * what the server side spends (ingest process + its PostgreSQL backends + Redis) from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  type ChannelCredentials,
  type ClientDuplexStream,
  credentials,
  type Metadata,
  makeGenericClientConstructor,
} from '@grpc/grpc-js';
import {
  type AgentEvent,
  AgentEventBatch,
  AlertServiceClient,
  AlertServiceService,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import type { NewAlert } from '@tripwire/storage';
import {
  CpuMeter,
  postgresBackendPids,
  type Queryable,
  redisPidFromInfo,
} from '@tripwire/test-fixtures/proc-cpu';
import { percentile } from '@tripwire/test-fixtures/spread';
import { bearer } from '../test/agent-session.js';

const SEVERITIES = [Severity.INFO, Severity.WARN, Severity.CRITICAL] as const;
const TYPES = [TripwireType.FILE, TripwireType.NETWORK, TripwireType.PROCESS] as const;
const NAMES = {
  [Severity.INFO]: 'INFO',
  [Severity.WARN]: 'WARN',
  [Severity.CRITICAL]: 'CRITICAL',
} as const;
const TYPE_NAMES = {
  [TripwireType.FILE]: 'FILE',
  [TripwireType.NETWORK]: 'NETWORK',
  [TripwireType.PROCESS]: 'PROCESS',
} as const;

/** A realistic alert: ~150 bytes of detail, like a file-integrity hit. */
export function makeEvent(hostId: string, i: number): AgentEvent {
  return {
    alertId: randomUUID(),
    hostId,
    tripwireType: TYPES[i % 3]!,
    severity: SEVERITIES[i % 3]!,
    timestampUs: Date.now() * 1000,
    ruleName: 'etc-integrity',
    eventDetailJson: JSON.stringify({
      path: `/etc/app/conf.d/${i % 100}.conf`,
      change: 'modify',
      old_sha256: randomBytes(8).toString('hex'),
      new_sha256: randomBytes(8).toString('hex'),
      uid: 0,
      mode: '0644',
    }),
  };
}

export const toNewAlert = (e: AgentEvent): NewAlert => ({
  alertId: e.alertId,
  hostId: e.hostId,
  occurredAtUs: e.timestampUs,
  tripwireType: TYPE_NAMES[e.tripwireType as 1 | 2 | 3],
  severity: NAMES[e.severity as 1 | 2 | 3],
  ruleName: e.ruleName,
  eventDetailJson: e.eventDetailJson,
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

export interface IngestProcess {
  child: ChildProcess;
  address: string;
  httpUrl: string;
  enrollment: string;
  stop(): Promise<void>;
}

/** `node dist/main.js` of the ingest service on `databaseUrl`, ready to serve. */
export async function startIngestProcess(
  databaseUrl: string,
  redisUrl: string,
  busPrefix: string,
  env: Record<string, string> = {},
): Promise<IngestProcess> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const enrollment = randomBytes(24).toString('base64url');
  // BENCH_PROFILE=<dir> writes a CPU profile of the ingest process there.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const child = spawn(process.execPath, [...profile, 'dist/main.js'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      ENROLLMENT_TOKEN: enrollment,
      GRPC_INSECURE: 'true',
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      BUS_KEY_PREFIX: busPrefix,
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'warn',
      // The benchmarks register hundreds of agents from one address within seconds.
      REGISTER_RATE_LIMIT_PER_MINUTE: '1000000',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${httpUrl}/readyz`)).ok) break;
    } catch {}
    if (i > 300 || child.exitCode !== null) throw new Error('ingest did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { child, address: `127.0.0.1:${grpcPort}`, httpUrl, enrollment, stop };
}

export interface RegisteredAgent {
  hostId: string;
  agentToken: string;
}

/** Registers `count` agents with the enrollment token, `concurrency` at a time. */
export async function registerAgents(
  ingest: IngestProcess,
  count: number,
  concurrency = 50,
): Promise<RegisteredAgent[]> {
  const client = new AlertServiceClient(ingest.address, credentials.createInsecure());
  const agents: RegisteredAgent[] = [];
  const stamp = Date.now();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const n = next++;
      agents[n] = await new Promise<RegisteredAgent>((resolve, reject) =>
        client.registerAgent(
          { hostname: `bench-${n}-${stamp}`, platform: 'linux', agentVersion: 'bench' },
          bearer(ingest.enrollment),
          (err, res) => (err ? reject(err) : resolve(res)),
        ),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  client.close();
  return agents;
}

/** The batched stream's client, sending bytes encoded beforehand (see PreEncodedClient). */
export type PreEncodedStreamClient = {
  streamAlertBatches(metadata: Metadata): ClientDuplexStream<Buffer, ServerCommand>;
  close(): void;
};

// The batched stream with a pass-through request serializer: the benchmarks encode every
// AgentEventBatch before the clock starts, so on this 2-core machine the load generator does
// not compete with the system under test for protobuf encoding. The bytes on the wire are the
// same real protobuf.
export const PreEncodedClient = makeGenericClientConstructor(
  {
    streamAlertBatches: {
      ...AlertServiceService.streamAlertBatches,
      requestSerialize: (bytes: Buffer) => bytes,
    },
  },
  'tripwire.v1.AlertService',
) as unknown as new (
  address: string,
  creds: ChannelCredentials,
  options?: Record<string, unknown>,
) => PreEncodedStreamClient;

export { bearer };

export interface Load {
  agents: number;
  alerts: number;
  batch: number;
  window: number;
  /** Each batch carries a sampled traceparent, as from an agent that traces. */
  traced?: boolean;
}

/** `agents` new agents send `alerts` in all, each keeping up to `window` unacknowledged. */
/** A sampled W3C traceparent with fresh ids: each batch its own trace, as agents send them. */
const newTraceparent = () =>
  `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

export type AgentsRun = Awaited<ReturnType<typeof runAgents>>;

export async function runAgents(
  ingest: IngestProcess,
  { agents: n, alerts, batch, window, traced }: Load,
) {
  const perAgent = Math.ceil(alerts / n);
  const latencies: number[] = [];
  const agents = await registerAgents(ingest, n);
  const plans = agents.map((a) => {
    const batches: Array<{ ids: string[]; bytes: Buffer }> = [];
    for (let i = 0; i < perAgent; i += batch) {
      const events = Array.from({ length: Math.min(batch, perAgent - i) }, (_, j) =>
        makeEvent(a.hostId, i + j),
      );
      batches.push({
        ids: events.map((e) => e.alertId),
        bytes: Buffer.from(
          AgentEventBatch.encode(
            traced ? { events, traceparent: newTraceparent() } : { events },
          ).finish(),
        ),
      });
    }
    return batches;
  });
  const streamClient = new PreEncodedClient(ingest.address, credentials.createInsecure());
  const started = performance.now();
  await Promise.all(
    agents.map(async (a, k) => {
      const batches = plans[k]!;
      const call = streamClient.streamAlertBatches(bearer(a.agentToken));
      const sentAt = new Map<string, number>();
      let next = 0;
      let sent = 0;
      let acked = 0;
      await new Promise<void>((resolve, reject) => {
        const pump = () => {
          while (next < batches.length && sent - acked < window) {
            const b = batches[next++]!;
            const now = performance.now();
            for (const id of b.ids) sentAt.set(id, now);
            call.write(b.bytes);
            sent += b.ids.length;
          }
        };
        call.on('data', (c: ServerCommand) => {
          if (c.command?.$case !== 'ack') return;
          const now = performance.now();
          for (const id of c.command.ack.alertIds) {
            latencies.push(now - (sentAt.get(id) ?? now));
            sentAt.delete(id);
          }
          acked += c.command.ack.alertIds.length;
          if (acked >= perAgent) resolve();
          else pump();
        });
        call.on('error', (err) => reject(err));
        pump();
      });
      call.end();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  streamClient.close();
  latencies.sort((x, y) => x - y);
  return {
    count: perAgent * n,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

/**
 * A meter of what the server side spends: the ingest process, the PostgreSQL backends serving
 * the run's database for the ingest (application_name tripwire-ingest…), and the Redis server
 * (shared with whatever else the machine runs: reported on its own).
 */
export async function serverMeter(
  admin: Queryable,
  database: string,
  ingestPid: number,
  redis: { info(section: 'server'): Promise<string> },
): Promise<CpuMeter> {
  const redisPid = redisPidFromInfo(await redis.info('server'));
  return new CpuMeter({
    ingest: () => [ingestPid],
    postgres: () => postgresBackendPids(admin, database, 'tripwire-ingest'),
    redis: () => [redisPid],
  });
}

/** A meter of the PostgreSQL backends of one application on the run's database (the COPY baseline). */
export const postgresMeter = (admin: Queryable, database: string, application: string) =>
  new CpuMeter({ postgres: () => postgresBackendPids(admin, database, application) });

/** WAL written by the whole cluster so far, in bytes (pg_current_wal_lsn). */
export async function walBytes(admin: Queryable): Promise<number> {
  const { rows } = await admin.query<{ b: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS b`,
  );
  return Number(rows[0]!.b);
}
