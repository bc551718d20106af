// pnpm bench:fanout — alerts published on the Redis bus exactly as the ingest
// service publishes them (BusPublisher + serializeAlertMessage), fanned out
// to N WebSocket clients that all receive every alert (no filter). Two
// servers are measured in the same run, on the same clients and load:
//   - tripwire (uWS): the real fan-out service, from its build (node dist/main.js)
//   - ws baseline:    bench/ws-baseline-server.ts, a quick `ws` implementation
//                     (one JSON.stringify + ws.send per client per alert)
// Each server runs as its own process, started fresh for every scenario; the
// clients live in BENCH_WORKERS separate processes (bench/bench-clients.ts).
//
// Per scenario and server it reports:
//   deliveries/s      alert frames received by all clients per second, from the
//                     window's start to the last measured frame's receipt
//   delivered         measured frames received / (alerts published in the window x clients)
//   p50 / p99         publish -> client receipt, for every alert published in the
//                     window (the publisher's clock travels in event_detail.sent_at_us);
//                     frames that never arrive count as slower than all that did.
//                     Two diagnostic rows under them: the same for one extra client
//                     held by this (lightly loaded) process, and, for uWS only, the
//                     service's own Redis append -> uWS publish histogram (/metrics)
//   CPU s per 1M      server user+system CPU (/proc/<pid>/stat) from the window's
//                     start until the last measured frame arrived, per million
//                     frames received in that time
// Every scenario measures BENCH_RUNS windows (3) on the same connections; every row
// prints the median and, in brackets, the min-max over them.
//   KiB/connection    server RSS with every client connected minus RSS before the
//                     first connection, divided by the clients
// Targets (from the issue): CPU per delivery <= 0.25x the ws baseline's, and
// p99 < 50 ms at 1,000 clients x 200 alerts/s.
//
// Knobs (environment):
//   BENCH_CLIENTS (1000,5000)  client counts, one scenario each
//   BENCH_RATE (200,40)        alerts/s published, paired with BENCH_CLIENTS (one value: all)
//   BENCH_SECONDS (6)          measured window      BENCH_WARMUP_SECONDS (2)  load before it
//   BENCH_WORKERS (2)          client processes     BENCH_SERVERS (uws,ws)    which servers
//   BENCH_RUNS (3)             measured windows per scenario and server
//   DATABASE_URL / REDIS_URL   local servers by default
//   WS_MAX_BACKPRESSURE_BYTES  (16 MiB here) and any other fan-out variable not set above pass through
import { randomUUID } from 'node:crypto';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { CPUS, rssKiB } from '@tripwire/test-fixtures/proc-cpu';
import { formatSpread, spread } from '@tripwire/test-fixtures/spread';
import { createOperatorAuth } from '../src/operator-auth.js';
import { sleep } from './bench-process.js';
import { benchRun, cleanUpRun } from './bench-run.js';
import {
  connectClients,
  fmt,
  fmtBound,
  fmtMs,
  type LoadResult,
  prepareDatabase,
  runLoad,
  SERVER_NAMES,
  type ServerKind,
  startServer,
  startWorker,
  stopChild,
  type Worker,
} from './fanout-harness.js';

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(',').map((v) => Number(v.trim()));
const CLIENTS = list('BENCH_CLIENTS', '1000,5000');
const RATES = list('BENCH_RATE', '200,40');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SERVERS = (process.env.BENCH_SERVERS ?? 'uws,ws').split(',') as ServerKind[];
const RUN = benchRun('fanout');
const { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL } = RUN;
const JWT_SECRET = `bench-operator-secret-${randomUUID()}`;
const BASE_PREFIX = RUN.prefix;
/** How long clients may take to receive the window's last alerts once publishing stops. */
const DRAIN_TIMEOUT_MS = Math.max(60_000, SECONDS * 10_000);
const TARGET_CPU_RATIO = 0.25;
const TARGET_P99_MS = 50;
const TARGET_SCENARIO = { clients: 1000, rate: 200 };

interface Scenario {
  clients: number;
  rate: number;
}

/** One server in one scenario: its connections, then RUNS measured windows on them. */
interface RunResult {
  open: number;
  kibPerConnection: number;
  windows: LoadResult[];
  notes: string[];
}

// ---- one server, one scenario ------------------------------------------------------------

let runs = 0;

async function runScenario(kind: ServerKind, { clients, rate }: Scenario): Promise<RunResult> {
  // A stream of its own per run: the fan-out service warms its history from the stream on start.
  const keyPrefix = `${BASE_PREFIX}${++runs}-${kind}-${clients}:`;
  const publisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix });
  const env = {
    DATABASE_URL,
    REDIS_URL,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    BUS_KEY_PREFIX: keyPrefix,
    WS_RATE_LIMIT_MESSAGES: '100000',
    // Every client is one operator on one address: the abuse caps would stop them at 20 / 100.
    WS_MAX_CONNECTIONS_PER_OPERATOR: '100000',
    WS_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
    WS_MAX_BACKPRESSURE_BYTES: process.env.WS_MAX_BACKPRESSURE_BYTES ?? String(16 * 1024 * 1024),
  };
  const server = await startServer(kind, clients, env, publisher);
  const workers: Worker[] = [];
  try {
    await sleep(500);
    const rssBefore = rssKiB(server.pid);
    const token = await createOperatorAuth(JWT_SECRET).issue('bench', 'viewer');
    const url = `ws://127.0.0.1:${server.port}/ws/alerts?access_token=${token}`;
    for (let i = 0; i < WORKERS; i++) workers.push(startWorker(Math.ceil(clients / WORKERS)));
    const connected = await connectClients(workers, url, clients);
    await sleep(500);
    const rssConnected = rssKiB(server.pid);
    const windows: LoadResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      windows.push(
        await runLoad(server, workers, publisher, url, {
          rate,
          warmupSeconds: WARMUP_SECONDS,
          seconds: SECONDS,
          drainTimeoutMs: DRAIN_TIMEOUT_MS,
          open: connected.open,
        }),
      );
    }
    const notes = [...new Set(windows.flatMap((w) => w.notes))];
    if (connected.failed) {
      notes.unshift(`${connected.failed} connections failed (${connected.firstError})`);
    }
    return {
      open: connected.open,
      kibPerConnection: (rssConnected - rssBefore) / connected.open,
      windows,
      notes,
    };
  } finally {
    await Promise.all(workers.map((w) => stopChild(w.child, 'SIGKILL')));
    await stopChild(server.child);
    await publisher.drain(1_000);
    publisher.close();
    publisherRedis.disconnect();
  }
}

// ---- report --------------------------------------------------------------------------

/** The median (min–max) of one figure over a server's windows. */
const over = (r: RunResult, value: (w: LoadResult) => number, digits: number) =>
  formatSpread(spread(r.windows.map(value)), digits);
const overMs = (r: RunResult, value: (w: LoadResult) => number) => {
  const s = spread(r.windows.map(value));
  return s.min === s.max ? fmtMs(s.median) : `${fmtMs(s.median)} (${fmtMs(s.min)}–${fmtMs(s.max)})`;
};
const medianOf = (r: RunResult, value: (w: LoadResult) => number) =>
  spread(r.windows.map(value)).median;

function printScenario(scenario: Scenario, results: Partial<Record<ServerKind, RunResult>>) {
  const kinds = SERVERS.filter((k) => results[k]);
  const cell = (s: string) => s.padStart(30);
  const row = (label: string, value: (r: RunResult) => string) =>
    console.log(`  ${label.padEnd(36)}${kinds.map((k) => cell(value(results[k]!))).join('')}`);
  console.log(
    `\n${fmt(scenario.clients)} clients x ${fmt(scenario.rate)} alerts/s ` +
      `(${fmt(scenario.clients * scenario.rate)} deliveries/s offered), ` +
      `${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured, ${RUNS} windows: median (min–max)`,
  );
  console.log(`  ${''.padEnd(36)}${kinds.map((k) => cell(SERVER_NAMES[k])).join('')}`);
  row('clients connected', (r) => fmt(r.open));
  row('deliveries/s', (r) => over(r, (w) => w.deliveriesPerSecond, 0));
  row('delivered (of published x clients)', (r) => over(r, (w) => w.deliveredShare * 100, 1));
  row('latency p50, publish -> client', (r) => overMs(r, (w) => w.p50Ms));
  row('latency p99, publish -> client', (r) => overMs(r, (w) => w.p99Ms));
  row('  one client in the parent, p50', (r) => overMs(r, (w) => w.probeP50Ms));
  row('  one client in the parent, p99', (r) => overMs(r, (w) => w.probeP99Ms));
  row('  in server, p50 / p99 (bucket ms)', (r) => {
    const last = r.windows[r.windows.length - 1]!.serverSideMs;
    return last === null ? 'n/a' : `${fmtBound(last.p50)} / ${fmtBound(last.p99)} (last)`;
  });
  row('server CPU s per 1M deliveries', (r) => over(r, (w) => w.cpuPerMillion, 3));
  row('server CPU busy (cores)', (r) => over(r, (w) => w.serverCores, 2));
  row('server KiB per connection', (r) => fmt(r.kibPerConnection, 1));
  row('server RSS under load (MiB)', (r) => over(r, (w) => w.rssUnderLoadMiB, 0));
  row('client processes CPU (cores)', (r) => over(r, (w) => w.clientCores, 2));
  row(`whole machine CPU (of ${CPUS} cores)`, (r) => over(r, (w) => w.machineCores, 2));
  if (results.uws && results.ws) {
    console.log(
      `  CPU per delivery, uWS / ws (medians): ${fmt(cpuRatio(results.uws, results.ws), 2)}x`,
    );
  }
  for (const k of kinds) {
    for (const note of results[k]!.notes) console.log(`  note (${SERVER_NAMES[k]}): ${note}`);
  }
}

const cpuRatio = (uws: RunResult, ws: RunResult) =>
  medianOf(uws, (w) => w.cpuPerMillion) / medianOf(ws, (w) => w.cpuPerMillion);

process.once('SIGINT', () => {
  console.log('\ninterrupted: removing the benchmark keys and database');
  void cleanUpRun(RUN).finally(() => process.exit(130));
});

function printTargets(
  all: Array<{ scenario: Scenario; results: Partial<Record<ServerKind, RunResult>> }>,
) {
  console.log('\nTargets:');
  const ratios = all
    .filter(({ results }) => results.uws && results.ws)
    .map(({ scenario, results }) => ({
      scenario,
      ratio: cpuRatio(results.uws!, results.ws!),
    }));
  if (ratios.length) {
    const met = ratios.every((r) => r.ratio <= TARGET_CPU_RATIO);
    console.log(
      `  CPU per delivery <= ${TARGET_CPU_RATIO}x the ws baseline: ${met ? 'met' : 'NOT met'} (` +
        `${ratios.map((r) => `${fmt(r.scenario.clients)} clients ${fmt(r.ratio, 2)}x`).join(', ')})`,
    );
  } else {
    console.log('  CPU per delivery vs the ws baseline: not measured (run both servers)');
  }
  const target = all.find(
    ({ scenario }) =>
      scenario.clients === TARGET_SCENARIO.clients && scenario.rate === TARGET_SCENARIO.rate,
  )?.results.uws;
  if (!target) {
    console.log(`  p99 < ${TARGET_P99_MS} ms at 1,000 clients x 200 alerts/s: not measured`);
    return;
  }
  const p99 = medianOf(target, (w) => w.p99Ms);
  const delivered = Math.min(...target.windows.map((w) => w.deliveredShare));
  console.log(
    `  p99 < ${TARGET_P99_MS} ms at 1,000 clients x 200 alerts/s: ` +
      `${p99 < TARGET_P99_MS && delivered === 1 ? 'met' : 'NOT met'} ` +
      `(median p99 ${fmtMs(p99)}, ${fmt(delivered * 100, 1)}% delivered in the worst window)`,
  );
}

async function main() {
  const scenarios: Scenario[] = CLIENTS.map((clients, i) => ({
    clients,
    rate: RATES[i] ?? RATES[RATES.length - 1]!,
  }));
  console.log(
    `TripWire fan-out benchmark: ${scenarios.map((s) => `${fmt(s.clients)} clients x ${s.rate}/s`).join(', ')}; ` +
      `${WORKERS} client processes; servers: ${SERVERS.map((k) => SERVER_NAMES[k]).join(', ')}; ` +
      `WS_MAX_BACKPRESSURE_BYTES=${process.env.WS_MAX_BACKPRESSURE_BYTES ?? 16 * 1024 * 1024}`,
  );
  const all: Array<{ scenario: Scenario; results: Partial<Record<ServerKind, RunResult>> }> = [];
  await prepareDatabase(DATABASE_URL);
  try {
    for (const scenario of scenarios) {
      const results: Partial<Record<ServerKind, RunResult>> = {};
      for (const kind of SERVERS) results[kind] = await runScenario(kind, scenario);
      printScenario(scenario, results);
      all.push({ scenario, results });
    }
  } finally {
    console.log(`\n(${await cleanUpRun(RUN)})`);
  }
  printTargets(all);
  process.exit(0);
}

await main();
