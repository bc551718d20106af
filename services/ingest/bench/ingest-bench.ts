// pnpm bench:ingest — N agents stream alerts over real gRPC (StreamAlertBatches)
// into an ingest process backed by real PostgreSQL and Redis. In the same run,
// on the same rows and schema, it measures raw COPY (the ceiling) and naive
// per-row INSERT (the floor). The ingest service runs as its own process from
// its build (dist/), as in production. Settings come from the environment:
//   BENCH_AGENTS (8)  BENCH_ALERTS (200000)  BENCH_BATCH (100)  BENCH_WINDOW (2000 unacked per agent)
//   BENCH_NAIVE_ALERTS (10000)  DATABASE_URL / REDIS_URL (local servers by default)
//   BENCH_TRACING (1: the same loads again with OpenTelemetry tracing on, exporting over OTLP/HTTP
//   to a local sink, every batch carrying an agent's traceparent; 0 skips it)
//   plus any ingest setting, e.g. BATCH_MAX_SIZE, BATCH_MAX_DELAY_MS.
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
import { createRedisClient } from '@tripwire/bus';
import {
  type AgentEvent,
  AgentEventBatch,
  AlertServiceClient,
  AlertServiceService,
  type ServerCommand,
  Severity,
  TripwireType,
} from '@tripwire/proto';
import {
  createPool,
  ensureDatabaseExists,
  migrateDatabase,
  type NewAlert,
  type Pool,
} from '@tripwire/storage';
import { copyAlertsRaw, insertAlertsOneByOne } from '@tripwire/storage/baselines';
import { bearer } from '../test/agent-session.js';
import { measureSpanCost, type OtlpCounter, startOtlpCounter } from './otlp-counter.js';
import { measureSuppressionCost } from './suppression-cost.js';
import { searchIndexCost } from './search-index-cost.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const AGENTS = num('BENCH_AGENTS', 8);
const ALERTS = num('BENCH_ALERTS', 200_000);
const BATCH = num('BENCH_BATCH', 100);
const WINDOW = num('BENCH_WINDOW', 2_000);
const NAIVE_ALERTS = num('BENCH_NAIVE_ALERTS', 10_000);
const TRACING = num('BENCH_TRACING', 1) !== 0;
// Pairs of runs with and without the search index (0 to skip), each of ALERTS / 2 alerts.
const INDEX_ROUNDS = num('BENCH_INDEX_ROUNDS', 2);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const benchDb = new URL(serverUrl);
benchDb.pathname = `/tripwire_bench_${Date.now()}`;
const databaseUrl = benchDb.toString();
const busPrefix = `bench:${Date.now()}:`;

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
function makeEvent(hostId: string, i: number): AgentEvent {
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

const toNewAlert = (e: AgentEvent): NewAlert => ({
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

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function startIngestProcess(extraEnv: Record<string, string> = {}): Promise<{
  child: ChildProcess;
  address: string;
  httpUrl: string;
}> {
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
      ...extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${httpUrl}/readyz`)).ok) break;
    } catch {}
    if (i > 300) throw new Error('ingest did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  process.env.BENCH_ENROLLMENT = enrollment;
  return { child, address: `127.0.0.1:${grpcPort}`, httpUrl };
}

// The batched stream with a pass-through request serializer: the benchmark
// encodes every AgentEventBatch before the clock starts, so on this 2-core
// machine the load generator does not compete with the system under test for
// protobuf encoding. The bytes on the wire are the same real protobuf.
const PreEncodedClient = makeGenericClientConstructor(
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
) => {
  streamAlertBatches(metadata: Metadata): ClientDuplexStream<Buffer, ServerCommand>;
  close(): void;
};

interface Load {
  agents: number;
  alerts: number;
  batch: number;
  window: number;
  /** Each batch carries a sampled traceparent, as from an agent that traces. */
  traced?: boolean;
}

/** A sampled W3C traceparent with fresh ids: each batch its own trace, as agents send them. */
const newTraceparent = () =>
  `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

async function runAgents(
  address: string,
  { agents: AGENTS, alerts: ALERTS, batch: BATCH, window: WINDOW, traced }: Load,
) {
  const client = new AlertServiceClient(address, credentials.createInsecure());
  const perAgent = Math.ceil(ALERTS / AGENTS);
  const latencies: number[] = [];
  const agents = await Promise.all(
    Array.from(
      { length: AGENTS },
      (_, n) =>
        new Promise<{ hostId: string; agentToken: string }>((resolve, reject) =>
          client.registerAgent(
            { hostname: `bench-${n}-${Date.now()}`, platform: 'linux', agentVersion: 'bench' },
            bearer(process.env.BENCH_ENROLLMENT!),
            (err, res) => (err ? reject(err) : resolve(res)),
          ),
        ),
    ),
  );
  client.close();
  const plans = agents.map((a) => {
    const batches: Array<{ ids: string[]; bytes: Buffer }> = [];
    for (let i = 0; i < perAgent; i += BATCH) {
      const events = Array.from({ length: Math.min(BATCH, perAgent - i) }, (_, j) =>
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
  const streamClient = new PreEncodedClient(address, credentials.createInsecure());
  const started = performance.now();
  await Promise.all(
    agents.map(async (a, n) => {
      const batches = plans[n]!;
      const call = streamClient.streamAlertBatches(bearer(a.agentToken));
      const sentAt = new Map<string, number>();
      let next = 0;
      let sent = 0;
      let acked = 0;
      await new Promise<void>((resolve, reject) => {
        const pump = () => {
          while (next < batches.length && sent - acked < WINDOW) {
            const batch = batches[next++]!;
            const now = performance.now();
            for (const id of batch.ids) sentAt.set(id, now);
            call.write(batch.bytes);
            sent += batch.ids.length;
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
    count: perAgent * AGENTS,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main() {
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase({ databaseUrl });
  const pool = createPool({ databaseUrl, max: 4 });
  const reset = () => pool.query('TRUNCATE alerts, alert_ids');
  const hostId = randomUUID();

  console.log(
    `TripWire ingest benchmark: ${AGENTS} agents, ${fmt(ALERTS)} alerts, ${BATCH} per stream message, ` +
      `window ${WINDOW}/agent; BATCH_MAX_SIZE=${process.env.BATCH_MAX_SIZE ?? 'default'} ` +
      `BATCH_MAX_DELAY_MS=${process.env.BATCH_MAX_DELAY_MS ?? 'default'}`,
  );

  const copyRows = Array.from({ length: ALERTS }, (_, i) => toNewAlert(makeEvent(hostId, i)));
  let t = performance.now();
  for (let i = 0; i < copyRows.length; i += 10_000)
    await copyAlertsRaw(pool, copyRows.slice(i, i + 10_000));
  const copyRate = ALERTS / ((performance.now() - t) / 1000);
  await reset();

  const naiveRows = copyRows.slice(0, NAIVE_ALERTS);
  t = performance.now();
  await insertAlertsOneByOne(pool, naiveRows);
  const naiveRate = NAIVE_ALERTS / ((performance.now() - t) / 1000);
  await reset();

  const ingest = await startIngestProcess();
  let result: Awaited<ReturnType<typeof runAgents>>;
  let flushStats = '';
  let light: Awaited<ReturnType<typeof runAgents>>;
  let indexCost: string[] = [];
  let committedAfterRuns: number | undefined;
  try {
    result = await runAgents(ingest.address, {
      agents: AGENTS,
      alerts: ALERTS,
      batch: BATCH,
      window: WINDOW,
    });
    // A quiet fleet: 4 agents, each with at most 10 alerts unacknowledged.
    light = await runAgents(ingest.address, { agents: 4, alerts: 4_000, batch: 5, window: 10 });
    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const flushes = value('tripwire_ingest_batch_size_count');
    flushStats =
      `${fmt(flushes)} flushes, mean ${(value('tripwire_ingest_batch_size_sum') / flushes).toFixed(0)} alerts ` +
      `in ${((value('tripwire_ingest_flush_duration_seconds_sum') / flushes) * 1000).toFixed(1)} ms` +
      publishMarkStats(value);
    if (INDEX_ROUNDS > 0) {
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM alerts');
      committedAfterRuns = rows[0].n - light.count;
      indexCost = await searchIndexCost(
        pool,
        () =>
          runAgents(ingest.address, {
            agents: AGENTS,
            alerts: ALERTS / 2,
            batch: BATCH,
            window: WINDOW,
          }),
        reset,
        INDEX_ROUNDS,
      );
    }
  } finally {
    ingest.child.kill('SIGTERM');
    await new Promise((r) => ingest.child.once('exit', r));
  }
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM alerts');
  rows[0].n = committedAfterRuns ?? rows[0].n - light.count;
  flushStats += await hotMarkShare(pool);
  const ingestRate = result.count / result.seconds;
  await reset();
  const traced = TRACING ? await runTraced() : undefined;

  const line = (name: string, rate: number, extra = '') =>
    console.log(`  ${name.padEnd(34)} ${fmt(rate).padStart(10)} alerts/s  ${extra}`);
  console.log('');
  line('raw COPY into alerts (ceiling)', copyRate, '1.00x COPY');
  line(
    `naive per-row INSERT (${fmt(NAIVE_ALERTS)} rows)`,
    naiveRate,
    `${(naiveRate / copyRate).toFixed(2)}x COPY`,
  );
  line(
    'TripWire ingest over gRPC',
    ingestRate,
    `${(ingestRate / copyRate).toFixed(2)}x COPY, ${(ingestRate / naiveRate).toFixed(1)}x naive`,
  );
  console.log(
    `  send -> ack latency at full load    p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms`,
  );
  console.log(
    `  send -> ack latency, light load    p50 ${light.p50.toFixed(1)} ms, p99 ${light.p99.toFixed(1)} ms ` +
      `(4 agents, <= 10 unacknowledged each, ${fmt(light.count / light.seconds)} alerts/s)`,
  );
  console.log(`  rows committed: ${fmt(rows[0].n)} of ${fmt(result.count)} sent; ${flushStats}`);
  if (traced) printTraced(traced, ingestRate, result, light);
  console.log(
    `  targets: >= 0.6x COPY ${ingestRate >= 0.6 * copyRate ? 'met' : 'NOT met'}; ` +
      `> 10x naive ${ingestRate > 10 * naiveRate ? 'met' : 'NOT met'}`,
  );
  for (const l of indexCost) console.log(l);

  await measureSuppressionCost({
    pool,
    startIngest: startIngestProcess,
    runAgents,
    ruleName: 'etc-integrity',
    mutedPath: '/etc/app/conf.d/7.conf',
  });

  await pool.end();
  const admin = createPool({ databaseUrl: serverUrl, max: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await admin.query(`DROP DATABASE IF EXISTS "${benchDb.pathname.slice(1)}" WITH (FORCE)`);
  await admin.end();
  // The run's Redis keys go too.
  const redis = createRedisClient(redisUrl);
  for (const key of await redis.keys(`${busPrefix}*`)) await redis.del(key);
  redis.disconnect();
  process.exit(0);
}

await main();

type Run = Awaited<ReturnType<typeof runAgents>>;
interface TracedRun {
  full: Run;
  light: Run;
  exported: ReturnType<OtlpCounter['stats']>;
  spanMicros: number;
}

/**
 * The same two loads against a fresh ingest process with tracing on: OTLP/HTTP export to a local
 * sink (the stock batch span processor, default settings), every batch carrying a sampled
 * traceparent as from agents that trace, so every batch's four ingest spans are recorded.
 */
async function runTraced(): Promise<TracedRun> {
  const sink = await startOtlpCounter();
  const ingest = await startIngestProcess({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint });
  let full: Run;
  let light: Run;
  try {
    full = await runAgents(ingest.address, {
      agents: AGENTS,
      alerts: ALERTS,
      batch: BATCH,
      window: WINDOW,
      traced: true,
    });
    light = await runAgents(ingest.address, {
      agents: 4,
      alerts: 4_000,
      batch: 5,
      window: 10,
      traced: true,
    });
  } finally {
    // SIGTERM: the shutdown sequence exports the spans still buffered.
    ingest.child.kill('SIGTERM');
    await new Promise((r) => ingest.child.once('exit', r));
  }
  const exported = sink.stats();
  const spanMicros = await measureSpanCost(sink.endpoint);
  await sink.close();
  return { full, light, exported, spanMicros };
}

function printTraced(traced: TracedRun, offRate: number, off: Run, offLight: Run): void {
  const { full, light, exported, spanMicros } = traced;
  const rate = full.count / full.seconds;
  console.log(
    `  ${'TripWire ingest, tracing on (OTLP)'.padEnd(34)} ${fmt(rate).padStart(10)} alerts/s  ` +
      `${(rate / offRate).toFixed(2)}x tracing off`,
  );
  console.log(
    `  send -> ack p50/p99, full load        off ${off.p50.toFixed(1)}/${off.p99.toFixed(1)} ms, ` +
      `on ${full.p50.toFixed(1)}/${full.p99.toFixed(1)} ms`,
  );
  console.log(
    `  send -> ack p50/p99, light load       off ${offLight.p50.toFixed(1)}/${offLight.p99.toFixed(1)} ms, ` +
      `on ${light.p50.toFixed(1)}/${light.p99.toFixed(1)} ms`,
  );
  const batches = Math.ceil(full.count / BATCH) + Math.ceil(light.count / 5);
  console.log(
    `  spans exported: ${fmt(exported.spans)} for ${fmt(batches)} batches, in ${fmt(exported.requests)} ` +
      `OTLP requests (${(exported.bytes / 1024 / 1024).toFixed(1)} MiB); one span costs ` +
      `${spanMicros.toFixed(1)} µs in-process (start, attributes, end)`,
  );
}

/** The ledger's published marks (PublishMarks): how many UPDATEs, how large, how long. */
function publishMarkStats(value: (name: string) => number): string {
  const updates = value('tripwire_ingest_publish_mark_duration_seconds_count');
  if (!updates) return '';
  const marked = value('tripwire_ingest_publish_marks_total');
  const ms = (value('tripwire_ingest_publish_mark_duration_seconds_sum') / updates) * 1000;
  return `; ${fmt(marked)} marked published in ${fmt(updates)} UPDATEs, mean ${(marked / updates).toFixed(0)} alerts in ${ms.toFixed(1)} ms`;
}

/**
 * The share of the ledger's updates (the marks: nothing else updates it) that were HOT, i.e.
 * wrote no new primary-key entry. The statistics reach the view within a second or so.
 */
async function hotMarkShare(pool: Pool): Promise<string> {
  await new Promise((r) => setTimeout(r, 1_500));
  const { rows } = await pool.query<{ upd: string; hot: string }>(
    `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'alert_ids'`,
  );
  const upd = Number(rows[0]?.upd ?? 0);
  return upd ? `, ${((Number(rows[0]!.hot) / upd) * 100).toFixed(0)}% of them HOT` : '';
}
