// pnpm bench:scale-fanout — how the fan-out's cost grows with connections and with distinct
// filters. Everything runs as its own process: the fan-out service from its build, a bare
// uWebSockets.js server (bench/uws-bare-server.ts: uWS's own cost, the memory baseline) and
// BENCH_WORKERS client processes (bench/bench-clients.ts, `ws` clients, file-descriptor limit
// raised with `ulimit -n`, each process connecting from a loopback address of its own).
//
// Connection curve, for each of BENCH_CONNECTIONS (1,000, 10,000, 50,000):
//   idle     server KiB per connection (RSS after connecting minus before, over the count) for
//            the bare uWS server and the fan-out; the difference is what TripWire adds (goal:
//            <= 4 KiB); the fan-out's CPU over BENCH_IDLE_SECONDS with every socket idle
//            (pings, credential rechecks), per thousand connections
//   loaded   a fixed total of BENCH_DELIVERY_RATE deliveries/s (alerts/s = that / connections):
//            server CPU s per million deliveries, p50 / p99 publish -> client, BENCH_RUNS windows
// Topic curves, for each of BENCH_TOPICS (1, 100, 10,000) distinct filters over
// BENCH_TOPIC_CLIENTS sockets (10,000) at BENCH_TOPIC_RATE alerts/s (20):
//   every topic matches  every socket filters `host_id=<the alerts' host>,<one of T others>`, so
//                        every alert matches every topic and reaches every socket: the worst
//                        case, one uWS publish per topic per alert
//   one topic matches    every socket filters `host_id=<one of T hosts>` (per-host views) and the
//                        alerts come from the first of them: what the other topics cost an alert
// BENCH_TOPIC_MODES (all,one) picks the topic curves; BENCH_CONNECTIONS=0 skips the connection curve.
// Knobs also: BENCH_SECONDS (5) BENCH_WARMUP_SECONDS (1) BENCH_WORKERS (4), DATABASE_URL, REDIS_URL.
import { randomUUID } from 'node:crypto';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import {
  busyCores,
  CPUS,
  cpuSeconds,
  machineTicks,
  rssKiB,
} from '@tripwire/test-fixtures/proc-cpu';
import { formatSpread, repeat, type Spread, spread } from '@tripwire/test-fixtures/spread';
import { createOperatorAuth } from '../src/operator-auth.js';
import { type ClientOptions, topicHost } from './bench-clients.js';
import { sleep } from './bench-process.js';
import { benchRun, cleanUpRun } from './bench-run.js';
import {
  connectClients,
  FD_HARD_LIMIT,
  fmt,
  fmtMs,
  HOST_ID,
  type LoadResult,
  prepareDatabase,
  runLoad,
  type ServerKind,
  startServer,
  startWorker,
  stopChild,
  type Worker,
} from './fanout-harness.js';

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(',').map((v) => Number(v.trim()));
/** One server process holds every connection: no more than its file-descriptor limit allows. */
const MAX_CONNECTIONS = Math.floor((FD_HARD_LIMIT - 500) / 1000) * 1000;
const ASKED_CONNECTIONS = list('BENCH_CONNECTIONS', '1000,10000,50000');
const CONNECTIONS = [
  ...new Set(ASKED_CONNECTIONS.map((n) => Math.min(n, MAX_CONNECTIONS)).filter((n) => n > 0)),
];
const TOPICS = list('BENCH_TOPICS', '1,100,10000').filter((n) => n > 0);
const TOPIC_MODES = (process.env.BENCH_TOPIC_MODES ?? 'all,one').split(',') as Array<'all' | 'one'>;
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DELIVERY_RATE = num('BENCH_DELIVERY_RATE', 50_000);
const TOPIC_CLIENTS = num('BENCH_TOPIC_CLIENTS', 10_000);
const TOPIC_RATE = num('BENCH_TOPIC_RATE', 20);
const SECONDS = num('BENCH_SECONDS', 5);
const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 1);
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 5);
const WORKERS = num('BENCH_WORKERS', 4);
const RUNS = num('BENCH_RUNS', 3);
const DRAIN_TIMEOUT_MS = 60_000;
const JWT_SECRET = `bench-operator-secret-${randomUUID()}`;
const run = benchRun('scale_fanout');
const { prefix } = run;

/** Fresh loopback source addresses for every connection phase: no port left in TIME_WAIT. */
let phase = 0;
const nextAddresses = () => {
  phase++;
  return (worker: number) => ({ localAddress: `127.${10 + phase}.0.${worker + 1}` });
};

interface Session {
  server: Awaited<ReturnType<typeof startServer>>;
  workers: Worker[];
  publisher: BusPublisher;
  close(): Promise<void>;
  url: string;
  open: number;
  failed: string;
  kibPerConnection: number;
  /** RSS with every client connected. */
  rssKiB: number;
}

/** A server of `kind` with `clients` connected; its memory per connection measured. */
async function connectSession(
  kind: ServerKind,
  clients: number,
  extraEnv: Record<string, string> = {},
  topics?: { count: number; alertHost: string | null },
): Promise<Session> {
  const keyPrefix = `${prefix}${kind}-${clients}-${topics?.count ?? 0}-${phase}:`;
  const redis = createRedisClient(run.redisUrl, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis, keyPrefix });
  const env = {
    DATABASE_URL: run.databaseUrl,
    REDIS_URL: run.redisUrl,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    BUS_KEY_PREFIX: keyPrefix,
    WS_RATE_LIMIT_MESSAGES: '100000',
    WS_MAX_CONNECTIONS_PER_OPERATOR: '100000',
    WS_MAX_CONNECTIONS_PER_ADDRESS: '1000000',
    WS_MAX_TOPICS: String(Math.max(5_000, (topics?.count ?? 0) + 10)),
    WS_MAX_BACKPRESSURE_BYTES: String(16 * 1024 * 1024),
    ...extraEnv,
  };
  const server = await startServer(kind, clients, env, publisher);
  const workers = Array.from({ length: WORKERS }, () => startWorker(Math.ceil(clients / WORKERS)));
  const close = async () => {
    await Promise.all(workers.map((w) => stopChild(w.child, 'SIGKILL')));
    await stopChild(server.child);
    await publisher.drain(1_000);
    publisher.close();
    redis.disconnect();
  };
  try {
    await sleep(500);
    const rssBefore = rssKiB(server.pid);
    const token = await createOperatorAuth(JWT_SECRET).issue('bench', 'viewer');
    const url = `ws://127.0.0.1:${server.port}/ws/alerts?access_token=${token}`;
    const addresses = nextAddresses();
    const perWorker = Math.ceil(clients / WORKERS);
    const options = (i: number): Omit<ClientOptions, 'url' | 'count'> => ({
      ...addresses(i),
      ...(topics ? { topics: { ...topics, firstClient: i * perWorker } } : {}),
    });
    const connected = await connectClients(workers, url, clients, options);
    // Let the allocator settle (and the credential rechecks run once) before reading RSS.
    await sleep(2_500);
    const rssConnected = rssKiB(server.pid);
    return {
      server,
      workers,
      publisher,
      close,
      url,
      open: connected.open,
      failed: connected.failed ? `${connected.failed} failed: ${connected.firstError}` : '',
      kibPerConnection: (rssConnected - rssBefore) / Math.max(1, connected.open),
      rssKiB: rssConnected,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Server CPU seconds per second while every socket sits idle. */
async function idleCpu(session: Session): Promise<{ cores: number; machine: number }> {
  const [cpu0, machine0] = [cpuSeconds(session.server.pid), machineTicks()];
  await sleep(IDLE_SECONDS * 1000);
  return {
    cores: (cpuSeconds(session.server.pid) - cpu0) / IDLE_SECONDS,
    machine: busyCores(machine0),
  };
}

const load = (session: Session, rate: number) =>
  repeat(RUNS, () =>
    runLoad(session.server, session.workers, session.publisher, session.url, {
      rate,
      warmupSeconds: WARMUP_SECONDS,
      seconds: SECONDS,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      open: session.open,
    }),
  );

const s = (windows: LoadResult[], value: (w: LoadResult) => number) => spread(windows.map(value));
const ms = (x: Spread) =>
  x.min === x.max ? fmtMs(x.median) : `${fmtMs(x.median)} (${fmtMs(x.min)}–${fmtMs(x.max)})`;

interface MemoryPoint {
  open: number;
  bareOpen: number;
  twRssKiB: number;
  bareRssKiB: number;
}

async function connectionPoint(connections: number): Promise<MemoryPoint> {
  const bare = await connectSession('bare', connections);
  const [bareKiB, bareRssKiB, bareOpen] = [bare.kibPerConnection, bare.rssKiB, bare.open];
  await bare.close();
  const tw = await connectSession('uws', connections);
  try {
    const idle = await idleCpu(tw);
    const rate = Math.max(1, Math.round(DELIVERY_RATE / connections));
    const windows = await load(tw, rate);
    console.log(
      `\n${fmt(connections)} connections (${fmt(tw.open)} open${tw.failed ? `; ${tw.failed}` : ''}), ` +
        `${rate} alerts/s = ${fmt(rate * tw.open)} deliveries/s offered, ${RUNS} windows of ${SECONDS} s`,
    );
    const row = (label: string, value: string) => console.log(`  ${label.padEnd(44)}${value}`);
    row('server KiB per idle connection, bare uWS', fmt(bareKiB, 2));
    row('server KiB per idle connection, TripWire', fmt(tw.kibPerConnection, 2));
    row('  TripWire beyond bare uWS (goal <= 4 KiB)', fmt(tw.kibPerConnection - bareKiB, 2));
    row(
      'idle server CPU, ms/s per 1,000 connections',
      `${fmt((idle.cores * 1000 * 1000) / tw.open, 2)} (machine ${fmt(idle.machine, 2)} of ${CPUS} cores busy)`,
    );
    row('deliveries/s', formatSpread(s(windows, (w) => w.deliveriesPerSecond)));
    row(
      'delivered %',
      formatSpread(
        s(windows, (w) => w.deliveredShare * 100),
        1,
      ),
    );
    row(
      'server CPU s per 1M deliveries',
      formatSpread(
        s(windows, (w) => w.cpuPerMillion),
        3,
      ),
    );
    row('latency p50, publish -> client', ms(s(windows, (w) => w.p50Ms)));
    row('latency p99, publish -> client', ms(s(windows, (w) => w.p99Ms)));
    row('server RSS under load (MiB)', formatSpread(s(windows, (w) => w.rssUnderLoadMiB)));
    row('server / clients / machine CPU (cores)', coresRow(windows));
    for (const note of new Set(windows.flatMap((w) => w.notes))) row('note', note);
    return { open: tw.open, bareOpen, twRssKiB: tw.rssKiB, bareRssKiB };
  } finally {
    await tw.close();
  }
}

const coresRow = (windows: LoadResult[]) =>
  [
    (w: LoadResult) => w.serverCores,
    (w: LoadResult) => w.clientCores,
    (w: LoadResult) => w.machineCores,
  ]
    .map((f) => fmt(s(windows, f).median, 2))
    .join(' / ');

type TopicMode = 'all' | 'one';

/** Sockets whose topic is 0 when `clients` are spread as connectSession spreads them. */
function onTopicZero(clients: number, topics: number): number {
  const perWorker = Math.ceil(clients / WORKERS);
  let n = 0;
  for (let i = 0; i < WORKERS; i++) {
    const count = Math.floor(clients / WORKERS) + (i < clients % WORKERS ? 1 : 0);
    for (let g = i * perWorker; g < i * perWorker + count; g++) if (g % topics === 0) n++;
  }
  return n;
}

async function topicPoint(topics: number, mode: TopicMode): Promise<number> {
  const alertHost = mode === 'all' ? HOST_ID : topicHost(0);
  const tw = await connectSession(
    'uws',
    TOPIC_CLIENTS,
    {},
    {
      count: topics,
      alertHost: mode === 'all' ? HOST_ID : null,
    },
  );
  try {
    const windows = await repeat(RUNS, () =>
      runLoad(tw.server, tw.workers, tw.publisher, tw.url, {
        rate: TOPIC_RATE,
        warmupSeconds: WARMUP_SECONDS,
        seconds: SECONDS,
        drainTimeoutMs: DRAIN_TIMEOUT_MS,
        alertHost,
        ...(mode === 'all'
          ? { open: tw.open }
          : { open: onTopicZero(TOPIC_CLIENTS, topics), onlyTopic: 0 }),
      }),
    );
    const perThousand = s(windows, (w) => w.cpuPerThousandAlerts);
    console.log(
      `  ${fmt(topics).padStart(7)} ${fmt(mode === 'all' ? tw.open : onTopicZero(TOPIC_CLIENTS, topics)).padStart(9)} ` +
        `${formatSpread(perThousand, 3).padStart(24)} ${formatSpread(
          s(windows, (w) => w.cpuPerMillion),
          3,
        ).padStart(24)} ` +
        `${ms(s(windows, (w) => w.p50Ms)).padStart(28)} ${ms(s(windows, (w) => w.p99Ms)).padStart(28)} ` +
        `${formatSpread(
          s(windows, (w) => w.deliveredShare * 100),
          1,
        ).padStart(10)}` +
        `${tw.failed ? `  ${tw.failed}` : ''}`,
    );
    return perThousand.median;
  } finally {
    await tw.close();
  }
}

async function topicCurve(mode: TopicMode) {
  console.log(
    mode === 'all'
      ? `\nper-alert cost vs distinct filters, every alert matching every topic: ${fmt(TOPIC_CLIENTS)} sockets, ` +
          `${TOPIC_RATE} alerts/s; median (min–max) of ${RUNS} windows`
      : `\nper-alert cost vs distinct filters, one topic matching (per-host views, alerts of one host): ` +
          `${fmt(TOPIC_CLIENTS)} sockets, ${TOPIC_RATE} alerts/s`,
  );
  console.log(
    `  ${'topics'.padStart(7)} ${'receivers'.padStart(9)} ${'CPU s per 1k alerts'.padStart(24)} ` +
      `${'CPU s per 1M deliveries'.padStart(24)} ${'p50'.padStart(28)} ${'p99'.padStart(28)} ${'delivered%'.padStart(10)}`,
  );
  const perThousand: number[] = [];
  for (const topics of TOPICS) perThousand.push(await topicPoint(topics, mode));
  const [first, last] = [perThousand[0]!, perThousand[perThousand.length - 1]!];
  const extra = TOPICS[TOPICS.length - 1]! - TOPICS[0]!;
  if (extra > 0) {
    console.log(
      `  each further topic costs ${fmt(((last - first) / extra) * 1000, 3)} µs of server CPU per alert ` +
        '(CPU per 1k alerts, last minus first, over the topics added)',
    );
  }
}

/**
 * KiB per connection between consecutive points (RSS difference over the connections added):
 * free of what the first connections cost once (allocator arenas, JIT, buffers).
 */
function printMarginalMemory(points: MemoryPoint[]) {
  if (points.length < 2) return;
  console.log(
    '\nmemory per added idle connection between points (KiB): bare uWS / TripWire / beyond',
  );
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1]!, points[i]!];
    const bare = (b.bareRssKiB - a.bareRssKiB) / (b.bareOpen - a.bareOpen);
    const tw = (b.twRssKiB - a.twRssKiB) / (b.open - a.open);
    console.log(
      `  ${fmt(a.open).padStart(7)} -> ${fmt(b.open).padEnd(7)} ${fmt(bare, 2).padStart(8)} ${fmt(tw, 2).padStart(8)} ${fmt(tw - bare, 2).padStart(8)}`,
    );
  }
}

async function main() {
  console.log(
    `TripWire fan-out scale benchmark: connections ${CONNECTIONS.map((n) => fmt(n)).join(', ')} ` +
      `(${fmt(DELIVERY_RATE)} deliveries/s in total); topics ${TOPICS.map((n) => fmt(n)).join(', ')} over ` +
      `${fmt(TOPIC_CLIENTS)} sockets at ${TOPIC_RATE} alerts/s; ${WORKERS} client processes; ` +
      `${CPUS} cores, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)} at the start`,
  );
  if (ASKED_CONNECTIONS.some((n) => n > MAX_CONNECTIONS)) {
    console.log(
      `(the file-descriptor hard limit here is ${fmt(FD_HARD_LIMIT)} per process and cannot be raised ` +
        `without CAP_SYS_RESOURCE: the connection curve stops at ${fmt(MAX_CONNECTIONS)})`,
    );
  }
  const started = performance.now();
  await prepareDatabase(run.databaseUrl);
  try {
    const points: MemoryPoint[] = [];
    for (const connections of CONNECTIONS) {
      points.push(await connectionPoint(connections));
    }
    printMarginalMemory(points);
    for (const mode of TOPIC_MODES) await topicCurve(mode);
  } finally {
    console.log(
      `\n(${await cleanUpRun(run)}; whole run ${fmt((performance.now() - started) / 1000)} s)`,
    );
  }
  process.exit(0);
}

await main();
