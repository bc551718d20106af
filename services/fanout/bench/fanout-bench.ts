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
//   DATABASE_URL / REDIS_URL   local servers by default
//   WS_MAX_BACKPRESSURE_BYTES  (16 MiB here) and any other fan-out variable not set above pass through
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { BusPublisher, createRedisClient, serializeAlertMessage } from '@tripwire/bus';
import WebSocket from 'ws';
import { createOperatorAuth } from '../src/operator-auth.js';
import { isAlertFrame, isWelcomeFrame, nowUs, sentAtUs } from './alert-frame.js';
import type { ConnectedMessage, ReportMessage, WorkerCommand } from './bench-clients.js';
import { LatencyHistogram } from './latency-histogram.js';

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(',').map((v) => Number(v.trim()));
const CLIENTS = list('BENCH_CLIENTS', '1000,5000');
const RATES = list('BENCH_RATE', '200,40');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const SERVERS = (process.env.BENCH_SERVERS ?? 'uws,ws').split(',') as ServerKind[];
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = `bench-operator-secret-${randomUUID()}`;
const BASE_PREFIX = `bench:${Date.now()}:`;
const PUBLISH_TICK_MS = 10;
/** How long clients may take to receive the window's last alerts once publishing stops. */
const DRAIN_TIMEOUT_MS = Math.max(60_000, SECONDS * 10_000);
const TARGET_CPU_RATIO = 0.25;
const TARGET_P99_MS = 50;
const TARGET_SCENARIO = { clients: 1000, rate: 200 };

const PACKAGE_DIR = new URL('..', import.meta.url).pathname;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const FD_LIMIT = (() => {
  const soft = execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
})();

type ServerKind = 'uws' | 'ws';
const SERVER_NAMES: Record<ServerKind, string> = { uws: 'tripwire (uWS)', ws: 'ws baseline' };

interface Scenario {
  clients: number;
  rate: number;
}

interface RunResult {
  open: number;
  failedConnects: number;
  deliveriesPerSecond: number;
  deliveredShare: number;
  p50Ms: number;
  p99Ms: number;
  /** One extra client in this lightly loaded process: latency without the workers' own queueing. */
  probeP50Ms: number;
  probeP99Ms: number;
  /** uWS only, from its /metrics: Redis append -> frame handed to uWS, bucket upper bound. */
  serverSideMs: { p50: number; p99: number } | null;
  cpuPerMillion: number;
  serverCores: number;
  clientCores: number;
  /** Every process on the machine, from /proc/stat: how close to saturated the run was. */
  machineCores: number;
  kibPerConnection: number;
  rssUnderLoadMiB: number;
  notes: string[];
}

// ---- processes -------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `node <args>` as a child process; through `bash -c 'ulimit -n …; exec node …'`
 * when it needs more file descriptors than this shell's limit allows.
 */
function spawnNode(
  args: string[],
  { env, fds, ipc = false }: { env: NodeJS.ProcessEnv; fds: number; ipc?: boolean },
): ChildProcess {
  const stdio = ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const options = { cwd: PACKAGE_DIR, env, stdio } as Parameters<typeof spawn>[2];
  const child =
    fds + 256 <= FD_LIMIT
      ? spawn(process.execPath, args, options)
      : spawn(
          'bash',
          [
            '-c',
            // As root the hard limit can be raised too; otherwise go as far as it allows.
            `ulimit -n ${Math.max(65_536, fds + 1_024)} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$0" "$@"`,
            process.execPath,
            ...args,
          ],
          options,
        );
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Keeps a child's output lines (its warnings and errors, at LOG_LEVEL=warn) for the report. */
function collectOutput(child: ChildProcess): string[] {
  const lines: string[] = [];
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(line.trim());
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return lines;
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if ((await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) === false) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself hold spaces: field 3 is index 0 here.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLK_TCK;
}

/** Busy and total time of the whole machine, in clock ticks summed over its CPUs (/proc/stat). */
const CPUS = readFileSync('/proc/stat', 'utf8').match(/^cpu\d+ /gm)?.length ?? 1;

function machineTicks(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = fields.map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  // idle and iowait are fields 4 and 5 of the cpu line.
  return { busy: total - ticks[3]! - (ticks[4] ?? 0), total };
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN);
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

// ---- load ------------------------------------------------------------------------

const HOST_ID = randomUUID();

/** An alert as the ingest service publishes it; the publish time rides in event_detail. */
function alertJson(sentAtUs: number): string {
  const now = new Date();
  return serializeAlertMessage(
    {
      alert_id: randomUUID(),
      host_id: HOST_ID,
      hostname: 'bench-host-01',
      timestamp: now.toISOString(),
      timestamp_us: now.getTime() * 1000,
      received_at: now.toISOString(),
      tripwire_type: 'FILE',
      rule_name: 'etc-passwd-integrity',
      severity: 'CRITICAL',
    },
    JSON.stringify({ path: '/etc/passwd', change: 'modify', sent_at_us: Math.round(sentAtUs) }),
  );
}

/**
 * Publishes `rate` alerts/s in small chunks every PUBLISH_TICK_MS until `toUs`,
 * keeping to the schedule however the timer drifts. Calls onWindowOpen just
 * before the first alert stamped at or after `fromUs`; returns how many alerts
 * were stamped inside [fromUs, toUs).
 */
async function publishLoad(
  publisher: BusPublisher,
  rate: number,
  fromUs: number,
  toUs: number,
  onWindowOpen: () => void,
): Promise<number> {
  const started = performance.now();
  let published = 0;
  let inWindow = 0;
  let opened = false;
  for (let now = nowUs(); now < toUs; now = nowUs()) {
    if (!opened && now >= fromUs) {
      opened = true;
      onWindowOpen();
    }
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - published;
    if (due > 0) {
      publisher.publishSerialized(Array.from({ length: due }, () => alertJson(now)));
      published += due;
      if (now >= fromUs) inWindow += due;
    }
    await sleep(PUBLISH_TICK_MS);
  }
  return inWindow;
}

// ---- servers -----------------------------------------------------------------------

interface RunningServer {
  child: ChildProcess;
  pid: number;
  port: number;
  /** The fan-out's METRICS_PORT (/metrics is not on the public port). */
  metricsPort: number;
  output: string[];
}

async function startServer(
  kind: ServerKind,
  clients: number,
  keyPrefix: string,
  publisher: BusPublisher,
): Promise<RunningServer> {
  const port = await freePort();
  const metricsPort = await freePort();
  const env = {
    ...process.env,
    DATABASE_URL,
    REDIS_URL,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_HOST: '127.0.0.1',
    METRICS_PORT: String(metricsPort),
    BUS_KEY_PREFIX: keyPrefix,
    LOG_LEVEL: 'warn',
    WS_RATE_LIMIT_MESSAGES: '100000',
    WS_MAX_BACKPRESSURE_BYTES: process.env.WS_MAX_BACKPRESSURE_BYTES ?? String(16 * 1024 * 1024),
  };
  const args =
    kind === 'uws'
      ? ['dist/main.js']
      : ['--conditions=@tripwire/source', '--import', 'tsx', 'bench/ws-baseline-server.ts'];
  const child = spawnNode(args, { env, fds: clients });
  const output = collectOutput(child);
  const base = `http://127.0.0.1:${port}`;
  const poll = async (path: string, timeoutMs: number, each?: () => void) => {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
      if (child.exitCode !== null) {
        throw new Error(`${SERVER_NAMES[kind]} exited (${child.exitCode}):\n${output.join('\n')}`);
      }
      try {
        if ((await fetch(`${base}${path}`)).ok) return;
      } catch {}
      each?.();
      await sleep(100);
    }
    throw new Error(`${SERVER_NAMES[kind]}: ${path} not OK after ${timeoutMs} ms`);
  };
  await poll('/healthz', 30_000);
  // Readiness waits for the first XREAD to answer, which an empty stream makes take its full
  // 5 s block: a priming alert (stamped 0, so no client counts it) answers it at once.
  let polls = 0;
  await poll('/readyz', 15_000, () => {
    if (polls++ % 5 === 0) publisher.publishSerialized([alertJson(0)]);
  });
  return { child, pid: child.pid!, port, metricsPort, output };
}

// ---- clients -----------------------------------------------------------------------

interface Worker {
  child: ChildProcess;
  command(message: WorkerCommand): void;
  next<T extends ConnectedMessage | ReportMessage>(type: T['type']): Promise<T>;
}

function startWorker(): Worker {
  const child = spawnNode(['--import', 'tsx', 'bench/bench-clients.ts'], {
    env: process.env,
    fds: Math.ceil(Math.max(...CLIENTS) / WORKERS),
    ipc: true,
  });
  const output = collectOutput(child);
  return {
    child,
    command: (message) => child.send(message),
    next: <T extends ConnectedMessage | ReportMessage>(type: T['type']) =>
      new Promise<T>((resolve, reject) => {
        const onMessage = (message: ConnectedMessage | ReportMessage) => {
          if (message.type !== type) return;
          child.off('exit', onExit);
          child.off('message', onMessage);
          resolve(message as T);
        };
        const onExit = (code: number | null) =>
          reject(new Error(`client worker exited (${code}):\n${output.join('\n')}`));
        child.on('message', onMessage);
        child.once('exit', onExit);
      }),
  };
}

// ---- diagnostics ---------------------------------------------------------------------

interface Window {
  fromUs: number;
  toUs: number;
}

/** One client in this process, recording the latency of every alert published in `window`. */
function openProbe(
  url: string,
  window: Window,
): Promise<{ histogram: LatencyHistogram; ws: WebSocket }> {
  const histogram = new LatencyHistogram();
  const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
  return new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = data as Buffer;
      if (isWelcomeFrame(frame)) return resolve({ histogram, ws });
      if (!isAlertFrame(frame)) return;
      const now = nowUs();
      const sent = sentAtUs(frame);
      if (sent >= window.fromUs && sent < window.toUs) histogram.record(now - sent);
    });
    ws.on('error', reject);
  });
}

type Buckets = Map<number, number>;

/** The fan-out service's own delivery-latency histogram (cumulative buckets by upper bound, s). */
async function deliveryLatencyBuckets(port: number): Promise<Buckets | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const buckets: Buckets = new Map();
    const line = /^tripwire_fanout_delivery_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm;
    for (const [, le, count] of text.matchAll(line)) {
      buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(count));
    }
    return buckets;
  } catch {
    return null;
  }
}

/** The upper bound (ms) of the bucket holding the p-th percentile of what was observed in between. */
function bucketPercentileMs(before: Buckets, after: Buckets, p: number): number {
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const rank = (p / 100) * delta(Number.POSITIVE_INFINITY);
  const bounds = [...after.keys()].sort((a, b) => a - b);
  return (bounds.find((le) => delta(le) >= rank) ?? Number.POSITIVE_INFINITY) * 1000;
}

// ---- one server, one scenario ------------------------------------------------------------

let runs = 0;

async function runScenario(kind: ServerKind, { clients, rate }: Scenario): Promise<RunResult> {
  // A stream of its own per run: the fan-out service warms its history from the stream on start.
  const keyPrefix = `${BASE_PREFIX}${++runs}-${kind}-${clients}:`;
  const publisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix });
  const server = await startServer(kind, clients, keyPrefix, publisher);
  const workers: Worker[] = [];
  try {
    await sleep(500);
    const rssBefore = rssKiB(server.pid);

    const token = await createOperatorAuth(JWT_SECRET).issue('bench', 'viewer');
    const url = `ws://127.0.0.1:${server.port}/ws/alerts?access_token=${token}`;
    for (let i = 0; i < WORKERS; i++) workers.push(startWorker());
    const connected = await Promise.all(
      workers.map((w, i) => {
        const count = Math.floor(clients / WORKERS) + (i < clients % WORKERS ? 1 : 0);
        w.command({ type: 'connect', url, count });
        return w.next<ConnectedMessage>('connected');
      }),
    );
    const open = connected.reduce((n, c) => n + c.open, 0);
    const failedConnects = connected.reduce((n, c) => n + c.failed, 0);
    const firstError = connected.find((c) => c.firstError)?.firstError;
    await sleep(500);
    const rssConnected = rssKiB(server.pid);

    const window: Window = { fromUs: Number.POSITIVE_INFINITY, toUs: Number.NEGATIVE_INFINITY };
    const probe = await openProbe(url, window);
    window.fromUs = nowUs() + WARMUP_SECONDS * 1e6;
    window.toUs = window.fromUs + SECONDS * 1e6;
    const { fromUs, toUs } = window;
    for (const w of workers) w.command({ type: 'window', fromUs, toUs });
    const cpuAtOpen = { server: 0, clients: 0, machine: machineTicks() };
    const clientCpu = () => workers.reduce((s, w) => s + cpuSeconds(w.child.pid!), 0);
    let metricsAtOpen: Promise<Buckets | null> = Promise.resolve(null);
    const published = await publishLoad(publisher, rate, fromUs, toUs, () => {
      cpuAtOpen.server = cpuSeconds(server.pid);
      cpuAtOpen.clients = clientCpu();
      cpuAtOpen.machine = machineTicks();
      if (kind === 'uws') metricsAtOpen = deliveryLatencyBuckets(server.metricsPort);
    });
    const rssUnderLoad = rssKiB(server.pid);
    await publisher.drain(5_000);
    const reports = await Promise.all(
      workers.map((w) => {
        w.command({ type: 'finish', expectedPerClient: published, timeoutMs: DRAIN_TIMEOUT_MS });
        return w.next<ReportMessage>('report');
      }),
    );
    const serverCpu = cpuSeconds(server.pid) - cpuAtOpen.server;
    const clientsCpu = clientCpu() - cpuAtOpen.clients;
    const machine = machineTicks();
    probe.ws.terminate();
    const [bucketsBefore, bucketsAfter] = [
      await metricsAtOpen,
      kind === 'uws' ? await deliveryLatencyBuckets(server.metricsPort) : null,
    ];

    const histogram = new LatencyHistogram();
    for (const r of reports) histogram.merge(r.histogram);
    const windowFrames = reports.reduce((n, r) => n + r.windowFrames, 0);
    const framesSinceOpen = reports.reduce((n, r) => n + r.framesSinceWindowOpened, 0);
    const lastReceiptUs = Math.max(...reports.map((r) => r.lastReceiptUs));
    const elapsedS = (Math.max(toUs, lastReceiptUs) - fromUs) / 1e6;

    const notes: string[] = [];
    if (failedConnects) notes.push(`${failedConnects} connections failed (${firstError})`);
    const closes = sumCounts(reports.map((r) => r.closes));
    if (Object.keys(closes).length) notes.push(`server closed connections: ${show(closes)}`);
    const errors = sumCounts(reports.map((r) => r.errorFrames));
    if (Object.keys(errors).length) notes.push(`error frames: ${show(errors)}`);
    if (reports.some((r) => !r.complete)) {
      notes.push(`not every frame arrived within ${DRAIN_TIMEOUT_MS / 1000} s of the last publish`);
    }
    if (server.output.length) {
      notes.push(`server logged ${server.output.length} lines; first: ${server.output[0]}`);
    }
    return {
      open,
      failedConnects,
      deliveriesPerSecond: framesSinceOpen / elapsedS,
      deliveredShare: windowFrames / (published * open),
      // Frames that never arrived count as slower than every one that did.
      p50Ms: histogram.percentileMs(50, published * open),
      p99Ms: histogram.percentileMs(99, published * open),
      probeP50Ms: probe.histogram.percentileMs(50, published),
      probeP99Ms: probe.histogram.percentileMs(99, published),
      serverSideMs:
        bucketsBefore && bucketsAfter
          ? {
              p50: bucketPercentileMs(bucketsBefore, bucketsAfter, 50),
              p99: bucketPercentileMs(bucketsBefore, bucketsAfter, 99),
            }
          : null,
      cpuPerMillion: serverCpu / (framesSinceOpen / 1e6),
      serverCores: serverCpu / elapsedS,
      clientCores: clientsCpu / elapsedS,
      machineCores:
        ((machine.busy - cpuAtOpen.machine.busy) / (machine.total - cpuAtOpen.machine.total)) *
        CPUS,
      kibPerConnection: (rssConnected - rssBefore) / open,
      rssUnderLoadMiB: rssUnderLoad / 1024,
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

const sumCounts = (all: Array<Record<string, number>>) => {
  const sum: Record<string, number> = {};
  for (const counts of all) for (const [k, n] of Object.entries(counts)) sum[k] = (sum[k] ?? 0) + n;
  return sum;
};
const show = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, n]) => `${k} x${fmt(n)}`)
    .join(', ');

// ---- report --------------------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

const fmtMs = (ms: number) =>
  ms === Number.POSITIVE_INFINITY
    ? `> ${DRAIN_TIMEOUT_MS / 1000} s`
    : ms >= 1000
      ? `${fmt(ms / 1000, 2)} s`
      : `${fmt(ms, 2)} ms`;

/** A histogram bucket's upper bound, in ms, compactly (Infinity: past the last bound, 2.5 s). */
const fmtBound = (ms: number) => (Number.isFinite(ms) ? `${fmt(ms, ms < 10 ? 1 : 0)}` : '2500+');

function printScenario(scenario: Scenario, results: Partial<Record<ServerKind, RunResult>>) {
  const kinds = SERVERS.filter((k) => results[k]);
  const cell = (s: string) => s.padStart(16);
  const row = (label: string, value: (r: RunResult) => string) =>
    console.log(`  ${label.padEnd(36)}${kinds.map((k) => cell(value(results[k]!))).join('')}`);
  console.log(
    `\n${fmt(scenario.clients)} clients x ${fmt(scenario.rate)} alerts/s ` +
      `(${fmt(scenario.clients * scenario.rate)} deliveries/s offered), ` +
      `${WARMUP_SECONDS} s warm-up, ${SECONDS} s measured`,
  );
  console.log(`  ${''.padEnd(36)}${kinds.map((k) => cell(SERVER_NAMES[k])).join('')}`);
  row('clients connected', (r) => fmt(r.open));
  row('deliveries/s', (r) => fmt(r.deliveriesPerSecond));
  row('delivered (of published x clients)', (r) => `${fmt(r.deliveredShare * 100, 1)}%`);
  row('latency p50, publish -> client', (r) => fmtMs(r.p50Ms));
  row('latency p99, publish -> client', (r) => fmtMs(r.p99Ms));
  row('  one client in the parent, p50', (r) => fmtMs(r.probeP50Ms));
  row('  one client in the parent, p99', (r) => fmtMs(r.probeP99Ms));
  row('  in server, p50 / p99 (bucket ms)', (r) =>
    r.serverSideMs === null
      ? 'n/a'
      : `${fmtBound(r.serverSideMs.p50)} / ${fmtBound(r.serverSideMs.p99)}`,
  );
  row('server CPU s per 1M deliveries', (r) => fmt(r.cpuPerMillion, 3));
  row('server CPU busy (cores)', (r) => fmt(r.serverCores, 2));
  row('server KiB per connection', (r) => fmt(r.kibPerConnection, 1));
  row('server RSS under load (MiB)', (r) => fmt(r.rssUnderLoadMiB, 0));
  row('client processes CPU (cores)', (r) => fmt(r.clientCores, 2));
  row(`whole machine CPU (of ${CPUS} cores)`, (r) => fmt(r.machineCores, 2));
  if (results.uws && results.ws) {
    console.log(
      `  CPU per delivery, uWS / ws: ${fmt(results.uws.cpuPerMillion / results.ws.cpuPerMillion, 2)}x`,
    );
  }
  for (const k of kinds) {
    for (const note of results[k]!.notes) console.log(`  note (${SERVER_NAMES[k]}): ${note}`);
  }
}

async function cleanUpRedis(): Promise<number> {
  const redis = createRedisClient(REDIS_URL);
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${BASE_PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  return deleted;
}

process.once('SIGINT', () => {
  console.log('\ninterrupted: removing the benchmark keys from Redis');
  void cleanUpRedis().finally(() => process.exit(130));
});

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
  try {
    for (const scenario of scenarios) {
      const results: Partial<Record<ServerKind, RunResult>> = {};
      for (const kind of SERVERS) results[kind] = await runScenario(kind, scenario);
      printScenario(scenario, results);
      all.push({ scenario, results });
    }
  } finally {
    const deleted = await cleanUpRedis();
    console.log(`\n(cleaned up ${deleted} Redis keys under ${BASE_PREFIX})`);
  }

  console.log('\nTargets:');
  const ratios = all
    .filter(({ results }) => results.uws && results.ws)
    .map(({ scenario, results }) => ({
      scenario,
      ratio: results.uws!.cpuPerMillion / results.ws!.cpuPerMillion,
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
  console.log(
    target
      ? `  p99 < ${TARGET_P99_MS} ms at 1,000 clients x 200 alerts/s: ` +
          `${target.p99Ms < TARGET_P99_MS && target.deliveredShare === 1 ? 'met' : 'NOT met'} ` +
          `(p99 ${fmtMs(target.p99Ms)}, ${fmt(target.deliveredShare * 100, 1)}% delivered)`
      : `  p99 < ${TARGET_P99_MS} ms at 1,000 clients x 200 alerts/s: not measured in this run`,
  );
  process.exit(0);
}

await main();
