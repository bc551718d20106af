// pnpm bench:scale-ingest — how the ingest's cost grows with the number of connected agents.
// The ingest service runs from its build as its own process on a database of its own; the
// agents are real gRPC streams (StreamAlertBatches, each agent on its own HTTP/2 connection)
// held by up to BENCH_AGENT_PROCESSES child processes (bench/scale-agents.ts).
//
// Baseline, same run: raw COPY of BENCH_SAT_ALERTS rows, PostgreSQL CPU s and WAL per row.
// For each of BENCH_AGENT_COUNTS (1, 10, 100, 1,000), BENCH_RUNS (3) runs each of
//   fixed rate   BENCH_TOTAL_RATE alerts/s (2,000) in total for BENCH_RATE_SECONDS (8), spread
//                evenly over the agents (1,000 agents: 2 alerts/s each, one alert per message)
//   saturation   BENCH_SAT_ALERTS (100,000) in total, as fast as the agents' windows allow
//                (16,000 unacknowledged in total, spread over the agents; batches of up to 100)
// reporting alerts/s, server CPU s per million alerts (ingest process + its PostgreSQL
// backends + Redis, from /proc), ack p50 / p99, the ingest's RSS, and WAL bytes per alert
// (pg_current_wal_lsn: cluster-wide, so other work on the server adds to it; the minimum of
// the runs is the best estimate).
// Idle agents: CPU and memory with the largest count connected and nothing sent, against the
// same process with none connected, over BENCH_IDLE_SECONDS (30: one ping per agent at the
// default PING_INTERVAL_MS, six lease heartbeats at HOST_HEARTBEAT_MS).
// At the end: disk per stored alert (alerts + ledger + incidents, with their indexes).
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { createRedisClient } from '@tripwire/bus';
import { createPool, ensureDatabaseExists, migrateDatabase, type Pool } from '@tripwire/storage';
import { copyAlertsRaw } from '@tripwire/storage/baselines';
import { busyCores, CPUS, machineTicks, rssKiB } from '@tripwire/test-fixtures/proc-cpu';
import {
  formatSpread,
  percentile,
  repeat,
  type Spread,
  spread,
} from '@tripwire/test-fixtures/spread';
import {
  fmt,
  type IngestProcess,
  makeEvent,
  postgresMeter,
  type RegisteredAgent,
  registerAgents,
  serverMeter,
  startIngestProcess,
  toNewAlert,
  walBytes,
} from './ingest-harness.js';
import type { AgentsCommand, AgentsMessage, Plan } from './scale-agents.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const COUNTS = (process.env.BENCH_AGENT_COUNTS ?? '1,10,100,1000').split(',').map(Number);
const PROCESSES = num('BENCH_AGENT_PROCESSES', 4);
const TOTAL_RATE = num('BENCH_TOTAL_RATE', 2_000);
const RATE_SECONDS = num('BENCH_RATE_SECONDS', 8);
const SAT_ALERTS = num('BENCH_SAT_ALERTS', 100_000);
const IN_FLIGHT = num('BENCH_IN_FLIGHT', 16_000);
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 30);
const RUNS = num('BENCH_RUNS', 3);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const runId = Date.now().toString(36);
const benchDb = new URL(serverUrl);
benchDb.pathname = `/tripwire_bench_scale_ingest_${runId}`;
const databaseUrl = benchDb.toString();
const databaseName = benchDb.pathname.slice(1);
const busPrefix = `bench:scale-ingest:${runId}:`;
const COPY_APP = 'tripwire-bench-copy';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- agent processes ---------------------------------------------------------------

interface AgentProcess {
  child: ChildProcess;
  command(c: AgentsCommand): void;
  next<T extends AgentsMessage['type']>(type: T): Promise<Extract<AgentsMessage, { type: T }>>;
}

function startAgentProcess(): AgentProcess {
  const child = fork(new URL('./scale-agents.ts', import.meta.url).pathname, [], {
    execArgv: ['--conditions=@tripwire/source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return {
    child,
    command: (c) => child.send(c),
    next: (type) =>
      new Promise((resolve, reject) => {
        const onMessage = (m: AgentsMessage) => {
          if (m.type !== type) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(m as never);
        };
        const onExit = (code: number | null) => reject(new Error(`agent process exited (${code})`));
        child.on('message', onMessage);
        child.once('exit', onExit);
      }),
  };
}

/** `agents` spread over up to PROCESSES processes, every stream open and counted by the ingest. */
async function openFleet(ingest: IngestProcess, agents: RegisteredAgent[]) {
  const n = Math.min(PROCESSES, agents.length);
  const fleet = Array.from({ length: n }, startAgentProcess);
  const opened = await Promise.all(
    fleet.map((p, i) => {
      p.command({
        type: 'open',
        address: ingest.address,
        agents: agents.filter((_, k) => k % n === i),
      });
      return p.next('opened');
    }),
  );
  const failed = opened.reduce((s, o) => s + o.failed, 0);
  if (failed)
    throw new Error(
      `${failed} agents could not connect: ${opened.find((o) => o.firstError)?.firstError}`,
    );
  for (const deadline = Date.now() + 60_000; (await connectedAgents(ingest)) < agents.length; ) {
    if (Date.now() > deadline) throw new Error('the ingest never counted every agent connected');
    await sleep(200);
  }
  const close = async () => {
    await Promise.all(
      fleet.map((p) => {
        const exited = new Promise((r) => p.child.once('exit', r));
        p.command({ type: 'close' });
        return exited;
      }),
    );
  };
  return { fleet, close };
}

async function connectedAgents(ingest: IngestProcess): Promise<number> {
  const text = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const [, v] of text.matchAll(/^tripwire_ingest_connected_agents(?:\{[^}]*\})? (\S+)$/gm))
    sum += Number(v);
  return sum;
}

// ---- one measured run ----------------------------------------------------------------

interface RunResult {
  rate: number;
  cpuPerMillion: number;
  parts: { ingest: number; postgres: number; redis: number };
  p50: number;
  p99: number;
  rssMiB: number;
  walPerAlert: number;
  machineCores: number;
  lost: number;
  errors: string[];
}

interface Context {
  pool: Pool;
  ingest: IngestProcess;
  redis: ReturnType<typeof createRedisClient>;
}

async function measure(
  ctx: Context,
  fleet: AgentProcess[],
  plan: (share: number) => Plan,
): Promise<RunResult> {
  const shares = fleet.length;
  await Promise.all(
    fleet.map((p) => {
      p.command({ type: 'prepare', plan: plan(shares) });
      return p.next('ready');
    }),
  );
  const meter = await serverMeter(ctx.pool, databaseName, ctx.ingest.child.pid!, ctx.redis);
  const [wal0, machine0] = [await walBytes(ctx.pool), machineTicks()];
  await meter.start();
  const done = await Promise.all(
    fleet.map((p) => {
      p.command({ type: 'go' });
      return p.next('done');
    }),
  );
  const used = await meter.stop();
  const wal = (await walBytes(ctx.pool)) - wal0;
  const acked = done.reduce((s, d) => s + d.acked, 0);
  const sent = done.reduce((s, d) => s + d.sent, 0);
  const latencies = done.flatMap((d) => d.latencies).sort((a, b) => a - b);
  const perM = (seconds: number) => seconds / (acked / 1e6);
  return {
    rate: acked / used.seconds,
    cpuPerMillion: perM(used.total),
    parts: { ingest: perM(used.ingest!), postgres: perM(used.postgres!), redis: perM(used.redis!) },
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rssMiB: rssKiB(ctx.ingest.child.pid!) / 1024,
    walPerAlert: wal / acked,
    machineCores: busyCores(machine0),
    lost: sent - acked,
    errors: done.flatMap((d) => d.errors),
  };
}

// ---- report ------------------------------------------------------------------------------

const HEADER =
  `  ${'agents'.padStart(6)} ${'alerts/s'.padStart(24)} ${'server CPU s per 1M'.padStart(22)} ` +
  `${'ingest / PG / Redis'.padStart(20)} ${'ack p50 ms'.padStart(22)} ${'ack p99 ms'.padStart(24)} ` +
  `${'RSS MiB'.padStart(8)} ${'WAL B/alert'.padStart(12)} ${'machine'.padStart(8)}`;

function printRow(agents: number, runs: RunResult[]) {
  const s = (f: (r: RunResult) => number): Spread => spread(runs.map(f));
  const med = (f: (r: RunResult) => number, d = 1) => fmt(s(f).median, d);
  console.log(
    `  ${fmt(agents).padStart(6)} ${formatSpread(s((r) => r.rate)).padStart(24)} ` +
      `${formatSpread(
        s((r) => r.cpuPerMillion),
        1,
      ).padStart(22)} ` +
      `${`${med((r) => r.parts.ingest)} / ${med((r) => r.parts.postgres)} / ${med((r) => r.parts.redis)}`.padStart(20)} ` +
      `${formatSpread(
        s((r) => r.p50),
        1,
      ).padStart(22)} ${formatSpread(
        s((r) => r.p99),
        1,
      ).padStart(24)} ` +
      `${med((r) => r.rssMiB, 0).padStart(8)} ${fmt(s((r) => r.walPerAlert).min).padStart(12)} ` +
      `${med((r) => r.machineCores, 2).padStart(8)}`,
  );
  const lost = runs.reduce((n, r) => n + r.lost, 0);
  const errors = [...new Set(runs.flatMap((r) => r.errors))];
  if (lost) console.log(`         note: ${fmt(lost)} alerts never acknowledged`);
  for (const e of errors.slice(0, 3)) console.log(`         note: stream error ${e}`);
}

// ---- baselines and the idle fleet ----------------------------------------------------------

async function copyBaseline(pool: Pool, copyPool: Pool) {
  const rows = Array.from({ length: SAT_ALERTS }, (_, i) => toNewAlert(makeEvent(randomUUID(), i)));
  const runs = await repeat(RUNS, async () => {
    const meter = postgresMeter(pool, databaseName, COPY_APP);
    const wal0 = await walBytes(pool);
    await meter.start();
    for (let i = 0; i < rows.length; i += 10_000)
      await copyAlertsRaw(copyPool, rows.slice(i, i + 10_000));
    const used = await meter.stop();
    const wal = (await walBytes(pool)) - wal0;
    await pool.query('TRUNCATE alerts, alert_ids');
    return {
      rate: SAT_ALERTS / used.seconds,
      cpu: used.total / (SAT_ALERTS / 1e6),
      wal: wal / SAT_ALERTS,
    };
  });
  console.log(
    `\nraw COPY of ${fmt(SAT_ALERTS)} rows (baseline), ${RUNS} runs: ${formatSpread(spread(runs.map((r) => r.rate)))} rows/s, ` +
      `PostgreSQL ${formatSpread(spread(runs.map((r) => r.cpu)), 2)} CPU s per 1M rows, ` +
      `WAL ${fmt(Math.min(...runs.map((r) => r.wal)))} B/row (min)`,
  );
  return spread(runs.map((r) => r.cpu)).median;
}

/** What `agents` connected agents cost with nothing to send, against none connected. */
async function idleCost(ctx: Context, agents: RegisteredAgent[]) {
  const window = async (): Promise<Record<string, number>> => {
    const meter = await serverMeter(ctx.pool, databaseName, ctx.ingest.child.pid!, ctx.redis);
    const wal0 = await walBytes(ctx.pool);
    await meter.start();
    await sleep(IDLE_SECONDS * 1000);
    const used = await meter.stop();
    return { ...used, wal: (await walBytes(ctx.pool)) - wal0 };
  };
  const none = await window();
  const rss0 = rssKiB(ctx.ingest.child.pid!);
  const fleet = await openFleet(ctx.ingest, agents);
  await sleep(2_000);
  const rss1 = rssKiB(ctx.ingest.child.pid!);
  const some = await window();
  await fleet.close();
  const n = agents.length;
  const perAgentPerSecond = (a: number, b: number) => ((b - a) / n / IDLE_SECONDS) * 1e6;
  console.log(
    `\nidle agents: ${fmt(n)} connected and silent vs none, ${IDLE_SECONDS} s each (PING_INTERVAL_MS ` +
      `${process.env.PING_INTERVAL_MS ?? '30000'}, HOST_HEARTBEAT_MS ${process.env.HOST_HEARTBEAT_MS ?? '5000'})`,
  );
  console.log(
    `  ingest RSS ${fmt(rss0 / 1024)} MiB -> ${fmt(rss1 / 1024)} MiB: ${fmt((rss1 - rss0) / n, 1)} KiB per connected agent`,
  );
  console.log(
    `  server CPU per idle agent: ${fmt(perAgentPerSecond(none.total!, some.total!), 1)} µs/s ` +
      `(ingest ${fmt(perAgentPerSecond(none.ingest!, some.ingest!), 1)}, PostgreSQL ${fmt(perAgentPerSecond(none.postgres!, some.postgres!), 1)}, ` +
      `Redis ${fmt(perAgentPerSecond(none.redis!, some.redis!), 1)}); ` +
      `totals ${fmt(none.total!, 2)} s with none, ${fmt(some.total!, 2)} s with ${fmt(n)}`,
  );
  console.log(
    `  WAL: ${fmt((some.wal! - none.wal!) / n / IDLE_SECONDS, 1)} B/s per idle agent (lease heartbeats; cluster-wide, so noisy)`,
  );
}

async function diskPerAlert(pool: Pool): Promise<string> {
  const { rows } = await pool.query<{ bytes: string; n: string }>(
    `SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('alerts'))
          + pg_total_relation_size('alert_ids') + pg_total_relation_size('incidents') AS bytes,
            (SELECT count(*) FROM alerts) AS n`,
  );
  const [bytes, n] = [Number(rows[0]!.bytes), Number(rows[0]!.n)];
  return `disk: ${fmt(bytes / 1024 / 1024)} MiB for ${fmt(n)} stored alerts (alerts, ledger, incidents, with indexes) = ${fmt(bytes / n)} B per alert`;
}

/**
 * Redis memory of the run's streams (MEMORY USAGE, every node sampled) per message they hold;
 * messages per entry from the `n` field of the newest 1,000 entries (reading every body back
 * would move the whole history).
 */
async function redisPerAlert(redis: ReturnType<typeof createRedisClient>): Promise<string> {
  let bytes = 0;
  let entries = 0;
  let messages = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${busPrefix}*`, 'TYPE', 'stream');
    cursor = next;
    for (const key of keys) {
      bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const length = await redis.xlen(key);
      const newest = await redis.xrevrange(key, '+', '-', 'COUNT', 1000);
      let sampled = 0;
      for (const [, fields] of newest) {
        const at = fields.indexOf('n');
        sampled += at >= 0 ? Number(fields[at + 1]) : 1;
      }
      entries += length;
      messages += newest.length ? (sampled / newest.length) * length : 0;
    }
  } while (cursor !== '0');
  return (
    `Redis: ${fmt(bytes / 1024 / 1024, 1)} MiB in ${fmt(entries)} stream entries holding ${fmt(messages)} messages ` +
    `= ${fmt(bytes / Math.max(1, messages))} B per alert, ${fmt(messages / Math.max(1, entries), 1)} alerts per entry`
  );
}

// ---- the curves ------------------------------------------------------------------------------

const ratePlan = (agents: number) => (): Plan => ({
  kind: 'rate',
  ratePerAgent: TOTAL_RATE / agents,
  seconds: RATE_SECONDS,
});

const burstPlan = (agents: number) => (): Plan => {
  const window = Math.max(10, Math.floor(IN_FLIGHT / agents));
  return {
    kind: 'burst',
    alertsPerAgent: Math.ceil(SAT_ALERTS / agents),
    batch: Math.min(100, window),
    window,
  };
};

async function curves(ctx: Context, registered: RegisteredAgent[]) {
  const fixed: Array<[number, RunResult[]]> = [];
  const saturated: Array<[number, RunResult[]]> = [];
  for (const n of COUNTS) {
    const fleet = await openFleet(ctx.ingest, registered.slice(0, n));
    try {
      fixed.push([n, await repeat(RUNS, () => measure(ctx, fleet.fleet, ratePlan(n)))]);
      saturated.push([n, await repeat(RUNS, () => measure(ctx, fleet.fleet, burstPlan(n)))]);
    } finally {
      await fleet.close();
    }
    console.log(`  (${fmt(n)} agents measured; load average ${loadavg()[0]!.toFixed(1)})`);
  }
  console.log(
    `\nfixed total rate: ${fmt(TOTAL_RATE)} alerts/s over ${RATE_SECONDS} s, spread over the agents; ` +
      `median (min–max) of ${RUNS} runs`,
  );
  console.log(HEADER);
  for (const [n, runs] of fixed) printRow(n, runs);
  console.log(
    `\nsaturation: ${fmt(SAT_ALERTS)} alerts as fast as possible, ${fmt(IN_FLIGHT)} unacknowledged in total ` +
      `spread over the agents; median (min–max) of ${RUNS} runs`,
  );
  console.log(HEADER);
  for (const [n, runs] of saturated) printRow(n, runs);
}

async function main() {
  const started = performance.now();
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase({ databaseUrl });
  const pool = createPool({ databaseUrl, max: 2, applicationName: 'tripwire-bench' });
  const copyPool = createPool({ databaseUrl, max: 1, applicationName: COPY_APP });
  const redis = createRedisClient(redisUrl);
  console.log(
    `TripWire ingest scale benchmark: agents ${COUNTS.map((n) => fmt(n)).join(', ')} in up to ${PROCESSES} processes; ` +
      `${CPUS} cores, load average ${loadavg()[0]!.toFixed(1)} at the start`,
  );
  const copyCpu = await copyBaseline(pool, copyPool);
  const ingest = await startIngestProcess(databaseUrl, redisUrl, busPrefix);
  const ctx: Context = { pool, ingest, redis };
  try {
    const registered = await registerAgents(ingest, Math.max(...COUNTS));
    await idleCost(ctx, registered);
    await curves(ctx, registered);
    console.log(`\n${await diskPerAlert(pool)}`);
    console.log(await redisPerAlert(redis));
    console.log(`COPY's PostgreSQL CPU per row for comparison: ${fmt(copyCpu, 2)} s per 1M`);
  } finally {
    await ingest.stop();
    await pool.end();
    await copyPool.end();
    const admin = createPool({ databaseUrl: serverUrl, max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`);
    await admin.end();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${busPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    console.log(
      `\n(dropped ${databaseName}, removed ${busPrefix}*; whole run ${fmt((performance.now() - started) / 1000)} s)`,
    );
  }
  process.exit(0);
}

await main();
