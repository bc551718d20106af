// pnpm bench:ingest — N agents stream alerts over real gRPC (StreamAlertBatches)
// into an ingest process backed by real PostgreSQL and Redis. In the same run,
// on the same rows and schema, it measures raw COPY (the ceiling) and naive
// per-row INSERT (the floor). The ingest service runs as its own process from
// its build (dist/), as in production. Settings come from the environment:
//   BENCH_AGENTS (8)  BENCH_ALERTS (200000)  BENCH_BATCH (100)  BENCH_WINDOW (2000 unacked per agent)
//   BENCH_NAIVE_ALERTS (10000)  DATABASE_URL / REDIS_URL (local servers by default)
//   BENCH_RUNS (3: the whole sequence, each figure printed as median (min-max))
// After the runs, once each (tracing-cost.ts, search-index-cost.ts, suppression-cost.ts):
//   BENCH_TRACING (1: the same loads with OpenTelemetry tracing on, exporting over OTLP/HTTP
//   to a local sink, every batch carrying an agent's traceparent; 0 skips it)
//   BENCH_INDEX_ROUNDS (2: pairs of runs with and without the search index, ALERTS / 2 alerts
//   each; 0 skips them)  and the ingest with 0, 10 and 1,000 suppressions in force
//   plus any ingest setting, e.g. BATCH_MAX_SIZE, BATCH_MAX_DELAY_MS.
// Next to every rate it prints CPU seconds per million alerts, from /proc: for COPY the
// PostgreSQL backend doing it, for the ingest the ingest process + its PostgreSQL backends +
// Redis (shared/proc-cpu in @tripwire/test-fixtures), so runs compare on a shared machine.
import { randomUUID } from 'node:crypto';
import { createRedisClient } from '@tripwire/bus';
import { createPool, ensureDatabaseExists, migrateDatabase, type Pool } from '@tripwire/storage';
import { copyAlertsRaw, insertAlertsOneByOne } from '@tripwire/storage/baselines';
import { rssKiB } from '@tripwire/test-fixtures/proc-cpu';
import { formatSpread, repeat, spread } from '@tripwire/test-fixtures/spread';
import {
  fmt,
  type IngestProcess,
  type Load,
  makeEvent,
  postgresMeter,
  runAgents,
  serverMeter,
  startIngestProcess,
  toNewAlert,
} from './ingest-harness.js';
import { searchIndexCost } from './search-index-cost.js';
import { measureSuppressionCost } from './suppression-cost.js';
import { printTraced, runTraced } from './tracing-cost.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const AGENTS = num('BENCH_AGENTS', 8);
const ALERTS = num('BENCH_ALERTS', 200_000);
const BATCH = num('BENCH_BATCH', 100);
const WINDOW = num('BENCH_WINDOW', 2_000);
const NAIVE_ALERTS = num('BENCH_NAIVE_ALERTS', 10_000);
const RUNS = num('BENCH_RUNS', 3);
const TRACING = num('BENCH_TRACING', 1) !== 0;
const INDEX_ROUNDS = num('BENCH_INDEX_ROUNDS', 2);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const benchDb = new URL(serverUrl);
benchDb.pathname = `/tripwire_bench_${Date.now()}`;
const databaseUrl = benchDb.toString();
const databaseName = benchDb.pathname.slice(1);
const busPrefix = `bench:${Date.now()}:`;
const COPY_APP = 'tripwire-bench-copy';
const FULL_LOAD: Load = { agents: AGENTS, alerts: ALERTS, batch: BATCH, window: WINDOW };
// A quiet fleet: 4 agents, each with at most 10 alerts unacknowledged.
const LIGHT_LOAD: Load = { agents: 4, alerts: 4_000, batch: 5, window: 10 };
const startIngest = (env: Record<string, string> = {}) =>
  startIngestProcess(databaseUrl, redisUrl, busPrefix, env);
const emptyTables = (pool: Pool) => pool.query('TRUNCATE alerts, alert_ids, incidents CASCADE');

interface RunFigures {
  copyRate: number;
  /** PostgreSQL CPU seconds per million rows COPYed. */
  copyCpu: number;
  naiveRate: number;
  ingestRate: number;
  /** ingest + PostgreSQL + Redis CPU seconds per million alerts, and each part. */
  ingestCpu: number;
  parts: { ingest: number; postgres: number; redis: number };
  p50: number;
  p99: number;
  lightP50: number;
  lightP99: number;
  lightRate: number;
  rssMiB: number;
  stored: number;
  sent: number;
}

const perMillion = (seconds: number, count: number) => seconds / (count / 1e6);

/** COPY (metered), then naive INSERTs, on empty tables. */
async function baselines(pool: Pool, copyPool: Pool) {
  const hostId = randomUUID();
  const copyRows = Array.from({ length: ALERTS }, (_, i) => toNewAlert(makeEvent(hostId, i)));
  const copyMeter = postgresMeter(pool, databaseName, COPY_APP);
  await copyMeter.start();
  let t = performance.now();
  for (let i = 0; i < copyRows.length; i += 10_000)
    await copyAlertsRaw(copyPool, copyRows.slice(i, i + 10_000));
  const copyRate = ALERTS / ((performance.now() - t) / 1000);
  const copyCpu = perMillion((await copyMeter.stop()).total, ALERTS);
  await pool.query('TRUNCATE alerts, alert_ids');
  t = performance.now();
  await insertAlertsOneByOne(pool, copyRows.slice(0, NAIVE_ALERTS));
  const naiveRate = NAIVE_ALERTS / ((performance.now() - t) / 1000);
  await emptyTables(pool);
  return { copyRate, copyCpu, naiveRate };
}

async function oneRun(
  pool: Pool,
  copyPool: Pool,
  ingest: IngestProcess,
  redis: ReturnType<typeof createRedisClient>,
): Promise<RunFigures & { flushStats: string }> {
  const base = await baselines(pool, copyPool);
  const before = await ingestMetrics(ingest);
  const meter = await serverMeter(pool, databaseName, ingest.child.pid!, redis);
  await meter.start();
  const result = await runAgents(ingest, FULL_LOAD);
  const used = await meter.stop();
  const rssMiB = rssKiB(ingest.child.pid!) / 1024;
  const light = await runAgents(ingest, LIGHT_LOAD);
  const after = await ingestMetrics(ingest);
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM alerts');
  const flushStats = flushLine(before, after) + (await hotMarkShare(pool));
  await emptyTables(pool);
  return {
    ...base,
    ingestRate: result.count / result.seconds,
    ingestCpu: perMillion(used.total, result.count),
    parts: {
      ingest: perMillion(used.ingest!, result.count),
      postgres: perMillion(used.postgres!, result.count),
      redis: perMillion(used.redis!, result.count),
    },
    p50: result.p50,
    p99: result.p99,
    lightP50: light.p50,
    lightP99: light.p99,
    lightRate: light.count / light.seconds,
    rssMiB,
    stored: rows[0]!.n - light.count,
    sent: result.count,
    flushStats,
  };
}

function printRun(i: number, r: RunFigures & { flushStats: string }) {
  const line = (name: string, rate: number, extra = '') =>
    console.log(`  ${name.padEnd(34)} ${fmt(rate).padStart(10)} alerts/s  ${extra}`);
  console.log(`\nrun ${i + 1} of ${RUNS}`);
  line(
    'raw COPY into alerts (ceiling)',
    r.copyRate,
    `1.00x COPY; PostgreSQL ${fmt(r.copyCpu, 2)} CPU s per 1M rows`,
  );
  line(
    `naive per-row INSERT (${fmt(NAIVE_ALERTS)} rows)`,
    r.naiveRate,
    `${(r.naiveRate / r.copyRate).toFixed(2)}x COPY`,
  );
  line(
    'TripWire ingest over gRPC',
    r.ingestRate,
    `${(r.ingestRate / r.copyRate).toFixed(2)}x COPY, ${(r.ingestRate / r.naiveRate).toFixed(1)}x naive`,
  );
  console.log(
    `  server CPU per 1M alerts           ${fmt(r.ingestCpu, 2)} s = ingest ${fmt(r.parts.ingest, 2)} + PostgreSQL ${fmt(r.parts.postgres, 2)} + Redis ${fmt(r.parts.redis, 2)}; ` +
      `${(r.ingestCpu / r.copyCpu).toFixed(2)}x COPY's PostgreSQL CPU per row`,
  );
  console.log(
    `  send -> ack latency at full load    p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms; ingest RSS ${fmt(r.rssMiB)} MiB`,
  );
  console.log(
    `  send -> ack latency, light load    p50 ${r.lightP50.toFixed(1)} ms, p99 ${r.lightP99.toFixed(1)} ms ` +
      `(4 agents, <= 10 unacknowledged each, ${fmt(r.lightRate)} alerts/s)`,
  );
  console.log(`  rows committed: ${fmt(r.stored)} of ${fmt(r.sent)} sent; ${r.flushStats}`);
}

function printSummary(runs: RunFigures[]) {
  const row = (label: string, value: (r: RunFigures) => number, digits = 0) =>
    console.log(`  ${label.padEnd(46)} ${formatSpread(spread(runs.map(value)), digits)}`);
  console.log(`\nover ${runs.length} runs: median (min–max)`);
  row('raw COPY, rows/s', (r) => r.copyRate);
  row('raw COPY, PostgreSQL CPU s per 1M rows', (r) => r.copyCpu, 2);
  row('naive INSERT, rows/s', (r) => r.naiveRate);
  row('ingest, alerts/s', (r) => r.ingestRate);
  row('ingest, x COPY (throughput)', (r) => r.ingestRate / r.copyRate, 2);
  row('ingest, server CPU s per 1M alerts', (r) => r.ingestCpu, 2);
  row('  ingest process', (r) => r.parts.ingest, 2);
  row('  its PostgreSQL backends', (r) => r.parts.postgres, 2);
  row('  Redis (shared server)', (r) => r.parts.redis, 2);
  row('ingest CPU per alert, x COPY CPU per row', (r) => r.ingestCpu / r.copyCpu, 2);
  row('ack p50 / p99 at full load (ms): p50', (r) => r.p50, 1);
  row('                                 p99', (r) => r.p99, 1);
  row('ack p50 at light load (ms)', (r) => r.lightP50, 1);
  row('ingest RSS after the run (MiB)', (r) => r.rssMiB);
  const medianRate = spread(runs.map((r) => r.ingestRate / r.copyRate)).median;
  const medianNaive = spread(runs.map((r) => r.ingestRate / r.naiveRate)).median;
  console.log(
    `  targets (medians): >= 0.6x COPY ${medianRate >= 0.6 ? 'met' : 'NOT met'}; ` +
      `> 10x naive ${medianNaive > 10 ? 'met' : 'NOT met'}`,
  );
}

async function main() {
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase({ databaseUrl });
  const pool = createPool({ databaseUrl, max: 4, applicationName: 'tripwire-bench' });
  const copyPool = createPool({ databaseUrl, max: 1, applicationName: COPY_APP });
  const redis = createRedisClient(redisUrl);
  console.log(
    `TripWire ingest benchmark: ${AGENTS} agents, ${fmt(ALERTS)} alerts, ${BATCH} per stream message, ` +
      `window ${WINDOW}/agent, ${RUNS} runs; BATCH_MAX_SIZE=${process.env.BATCH_MAX_SIZE ?? 'default'} ` +
      `BATCH_MAX_DELAY_MS=${process.env.BATCH_MAX_DELAY_MS ?? 'default'}; load average ` +
      `${(await import('node:os')).loadavg()[0]!.toFixed(1)} at the start`,
  );
  const ingest = await startIngest();
  const runs: RunFigures[] = [];
  let indexCost: string[] = [];
  try {
    await repeat(RUNS, async (i) => {
      const r = await oneRun(pool, copyPool, ingest, redis);
      printRun(i, r);
      runs.push(r);
    });
    indexCost = await indexPhase(pool, ingest);
  } finally {
    await ingest.stop();
  }
  printSummary(runs);
  await oncePhases(pool, runs, indexCost);
  await pool.end();
  await copyPool.end();
  const admin = createPool({ databaseUrl: serverUrl, max: 1 });
  await admin.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
  await admin.end();
  // The run's Redis keys go too.
  for (const key of await redis.keys(`${busPrefix}*`)) await redis.del(key);
  redis.disconnect();
  process.exit(0);
}

await main();

/** BENCH_INDEX_ROUNDS pairs of runs with and without the search index, through `ingest`. */
async function indexPhase(pool: Pool, ingest: IngestProcess): Promise<string[]> {
  if (INDEX_ROUNDS <= 0) return [];
  const lines = await searchIndexCost(
    pool,
    () => runAgents(ingest, { ...FULL_LOAD, alerts: ALERTS / 2 }),
    () => emptyTables(pool),
    INDEX_ROUNDS,
  );
  await emptyTables(pool);
  return lines;
}

/** The phases that run once, after the runs: tracing on vs off, search index, suppressions. */
async function oncePhases(pool: Pool, runs: RunFigures[], indexCost: string[]) {
  if (TRACING) {
    const traced = await runTraced(startIngest, FULL_LOAD, LIGHT_LOAD);
    const median = (value: (r: RunFigures) => number) => spread(runs.map(value)).median;
    const off = {
      rate: median((r) => r.ingestRate),
      p50: median((r) => r.p50),
      p99: median((r) => r.p99),
      lightP50: median((r) => r.lightP50),
      lightP99: median((r) => r.lightP99),
    };
    const batches =
      Math.ceil(traced.full.count / BATCH) + Math.ceil(traced.light.count / LIGHT_LOAD.batch);
    printTraced(traced, off, batches);
    await emptyTables(pool);
  }
  if (indexCost.length) {
    console.log(`
search index cost (${INDEX_ROUNDS} pairs of runs, ${fmt(ALERTS / 2)} alerts each)`);
    for (const l of indexCost) console.log(l);
  }
  await measureSuppressionCost({
    pool,
    startIngest: () => startIngest(),
    runAgents,
    ruleName: 'etc-integrity',
    mutedPath: '/etc/app/conf.d/7.conf',
  });
}

type Metrics = (name: string) => number;

async function ingestMetrics(ingest: IngestProcess): Promise<Metrics> {
  const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
  return (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
}

/** Flushes and published marks between two /metrics readings. */
function flushLine(before: Metrics, after: Metrics): string {
  const d = (name: string) => after(name) - before(name);
  const flushes = d('tripwire_ingest_batch_size_count');
  const line =
    `${fmt(flushes)} flushes, mean ${(d('tripwire_ingest_batch_size_sum') / flushes).toFixed(0)} alerts ` +
    `in ${((d('tripwire_ingest_flush_duration_seconds_sum') / flushes) * 1000).toFixed(1)} ms`;
  const updates = d('tripwire_ingest_publish_mark_duration_seconds_count');
  if (!updates) return line;
  const marked = d('tripwire_ingest_publish_marks_total');
  const ms = (d('tripwire_ingest_publish_mark_duration_seconds_sum') / updates) * 1000;
  return `${line}; ${fmt(marked)} marked published in ${fmt(updates)} UPDATEs, mean ${(marked / updates).toFixed(0)} alerts in ${ms.toFixed(1)} ms`;
}

/**
 * The share of the ledger's updates (the marks: nothing else updates it) that were HOT, i.e.
 * wrote no new primary-key entry, over the whole run so far. The statistics reach the view
 * within a second or so.
 */
async function hotMarkShare(pool: Pool): Promise<string> {
  await new Promise((r) => setTimeout(r, 1_500));
  const { rows } = await pool.query<{ upd: string; hot: string }>(
    `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'alert_ids'`,
  );
  const upd = Number(rows[0]?.upd ?? 0);
  return upd
    ? `, ${((Number(rows[0]!.hot) / upd) * 100).toFixed(0)}% of the ledger's updates so far HOT`
    : '';
}
