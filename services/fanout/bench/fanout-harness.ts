/**
 * The pieces the fan-out benchmarks share (fanout-bench.ts, scale-fanout.ts): servers started as
 * their own processes with enough file descriptors, client processes (bench-clients.ts) that
 * hold the WebSockets, the publisher that plays the ingest service, and one measured window of
 * load with every figure the reports print. CPU and memory come from the shared /proc sampler.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type BusPublisher, serializeAlertMessage } from '@tripwire/bus';
import { ensureDatabaseExists, migrateDatabase } from '@tripwire/storage';
import { busyCores, cpuSeconds, machineTicks, rssKiB } from '@tripwire/test-fixtures/proc-cpu';
import WebSocket from 'ws';
import { isAlertFrame, isWelcomeFrame, nowUs, sentAtUs } from './alert-frame.js';
import type { ClientOptions, ConnectedMessage, ReportMessage } from './bench-clients.js';
import { freePort, sleep, track } from './bench-process.js';
import { LatencyHistogram } from './latency-histogram.js';

const PACKAGE_DIR = new URL('..', import.meta.url).pathname;
const PUBLISH_TICK_MS = 10;
const fdLimit = (flag: string) => {
  const value = execFileSync('bash', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
};
const FD_LIMIT = fdLimit('-n');
/**
 * The most file descriptors a child can get: raising the hard limit needs CAP_SYS_RESOURCE,
 * which a container often lacks, so one server process holds at most about this many sockets.
 */
export const FD_HARD_LIMIT = fdLimit('-Hn');

export type ServerKind = 'uws' | 'ws' | 'bare';
export const SERVER_NAMES: Record<ServerKind, string> = {
  uws: 'tripwire (uWS)',
  ws: 'ws baseline',
  bare: 'bare uWS',
};

// ---- processes -------------------------------------------------------------------

/**
 * `node <args>` as a child process; through `bash -c 'ulimit -n …; exec node …'` when it needs
 * more file descriptors than this shell's limit allows.
 */
function spawnNode(
  args: string[],
  { env, fds, ipc = false }: { env: NodeJS.ProcessEnv; fds: number; ipc?: boolean },
): ChildProcess {
  const stdio = ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const options = { cwd: PACKAGE_DIR, env, stdio } as Parameters<typeof spawn>[2];
  const raise = `ulimit -n ${Math.max(65_536, fds + 1_024)} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"`;
  return track(
    fds + 256 <= FD_LIMIT
      ? spawn(process.execPath, args, options)
      : // As root the hard limit can be raised too; otherwise go as far as it allows.
        spawn('bash', ['-c', `${raise}; exec "$0" "$@"`, process.execPath, ...args], options),
  );
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

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  if ((await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) === false) {
    child.kill('SIGKILL');
    await exited;
  }
}

// ---- load ------------------------------------------------------------------------

/** The host every benchmark alert comes from (clients that filter by host name it). */
export const HOST_ID = randomUUID();

/** An alert as the ingest service publishes it; the publish time rides in event_detail. */
export function alertJson(sentAtUs: number, hostId: string = HOST_ID): string {
  const now = new Date();
  return serializeAlertMessage(
    {
      alert_id: randomUUID(),
      host_id: hostId,
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
 * Publishes `rate` alerts/s in small chunks every PUBLISH_TICK_MS until `toUs`, keeping to the
 * schedule however the timer drifts. Calls onWindowOpen just before the first alert stamped at
 * or after `fromUs`; returns how many alerts were stamped inside [fromUs, toUs).
 */
async function publishLoad(
  publisher: BusPublisher,
  { rate, alertHost }: LoadOptions,
  window: Window,
  onWindowOpen: () => void,
): Promise<number> {
  const started = performance.now();
  let published = 0;
  let inWindow = 0;
  let opened = false;
  for (let now = nowUs(); now < window.toUs; now = nowUs()) {
    if (!opened && now >= window.fromUs) {
      opened = true;
      onWindowOpen();
    }
    const due = Math.floor(((performance.now() - started) / 1000) * rate) - published;
    if (due > 0) {
      publisher.publishSerialized(Array.from({ length: due }, () => alertJson(now, alertHost)));
      published += due;
      if (now >= window.fromUs) inWindow += due;
    }
    await sleep(PUBLISH_TICK_MS);
  }
  return inWindow;
}

// ---- servers -----------------------------------------------------------------------

export interface RunningServer {
  kind: ServerKind;
  child: ChildProcess;
  pid: number;
  port: number;
  /** The fan-out's METRICS_PORT (/metrics is not on the public port). */
  metricsPort: number;
  output: string[];
}

const SERVER_ARGS: Record<ServerKind, string[]> = {
  uws: ['dist/main.js'],
  ws: ['--conditions=@tripwire/source', '--import', 'tsx', 'bench/ws-baseline-server.ts'],
  bare: ['--conditions=@tripwire/source', '--import', 'tsx', 'bench/uws-bare-server.ts'],
};

/** Starts a server for `clients` connections and waits until it is ready. */
export async function startServer(
  kind: ServerKind,
  clients: number,
  env: Record<string, string>,
  publisher: BusPublisher,
): Promise<RunningServer> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child = spawnNode(SERVER_ARGS[kind], {
    env: {
      ...process.env,
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
      METRICS_HOST: '127.0.0.1',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'warn',
    },
    fds: clients,
  });
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
  return { kind, child, pid: child.pid!, port, metricsPort, output };
}

// ---- clients -----------------------------------------------------------------------

export interface Worker {
  child: ChildProcess;
  command(message: import('./bench-clients.js').WorkerCommand): void;
  next<T extends ConnectedMessage | ReportMessage>(type: T['type']): Promise<T>;
}

/** A client process able to hold `fds` connections. */
export function startWorker(fds: number): Worker {
  const child = spawnNode(['--import', 'tsx', 'bench/bench-clients.ts'], {
    env: process.env,
    fds,
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

export interface Connected {
  open: number;
  failed: number;
  firstError: string | null;
}

/**
 * Spreads `clients` connections to `url` over the workers; each worker's clients may come from
 * a loopback address of their own (`localAddress(i)`), since one source address has only ~28,000
 * ephemeral ports towards one server port.
 */
export async function connectClients(
  workers: Worker[],
  url: string,
  clients: number,
  options: (worker: number) => Omit<ClientOptions, 'url' | 'count'> = () => ({}),
): Promise<Connected> {
  const connected = await Promise.all(
    workers.map((w, i) => {
      const count = Math.floor(clients / workers.length) + (i < clients % workers.length ? 1 : 0);
      w.command({ type: 'connect', url, count, ...options(i) });
      return w.next<ConnectedMessage>('connected');
    }),
  );
  return {
    open: connected.reduce((n, c) => n + c.open, 0),
    failed: connected.reduce((n, c) => n + c.failed, 0),
    firstError: connected.find((c) => c.firstError)?.firstError ?? null,
  };
}

// ---- one measured window of load ------------------------------------------------------

export interface Window {
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

export interface LoadResult {
  /** Alerts published in the window. */
  published: number;
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
  /** Server CPU seconds per thousand alerts published (whatever each one fans out to). */
  cpuPerThousandAlerts: number;
  serverCores: number;
  clientCores: number;
  /** Every process on the machine, from /proc/stat: how close to saturated the run was. */
  machineCores: number;
  rssUnderLoadMiB: number;
  notes: string[];
}

export interface LoadOptions {
  rate: number;
  warmupSeconds: number;
  seconds: number;
  drainTimeoutMs: number;
  /** Connections expected to get every alert (the share delivered is out of published x open). */
  open: number;
  /** The host the alerts come from (HOST_ID when not given). */
  alertHost?: string;
  /** Only the clients on this topic are expected to get the alerts (ClientOptions.topics). */
  onlyTopic?: number;
}

/**
 * Publishes `rate` alerts/s through a warm-up and a measured window to the clients the workers
 * hold, then waits until every client has every window alert (or the drain timeout), and
 * measures latency, completeness and the server's CPU over the window.
 */
export async function runLoad(
  server: RunningServer,
  workers: Worker[],
  publisher: BusPublisher,
  url: string,
  options: LoadOptions,
): Promise<LoadResult> {
  const window: Window = { fromUs: Number.POSITIVE_INFINITY, toUs: Number.NEGATIVE_INFINITY };
  const probe = await openProbe(url, window);
  window.fromUs = nowUs() + options.warmupSeconds * 1e6;
  window.toUs = window.fromUs + options.seconds * 1e6;
  const { fromUs, toUs } = window;
  for (const w of workers) w.command({ type: 'window', fromUs, toUs });
  const atOpen = { server: 0, clients: 0, machine: machineTicks() };
  const clientCpu = () => workers.reduce((s, w) => s + cpuSeconds(w.child.pid!), 0);
  let metricsAtOpen: Promise<Buckets | null> = Promise.resolve(null);
  const published = await publishLoad(publisher, options, window, () => {
    atOpen.server = cpuSeconds(server.pid);
    atOpen.clients = clientCpu();
    atOpen.machine = machineTicks();
    if (server.kind === 'uws') metricsAtOpen = deliveryLatencyBuckets(server.metricsPort);
  });
  const rssUnderLoad = rssKiB(server.pid);
  await publisher.drain(5_000);
  const reports = await Promise.all(
    workers.map((w) => {
      w.command({
        type: 'finish',
        expectedPerClient: published,
        timeoutMs: options.drainTimeoutMs,
        onlyTopic: options.onlyTopic,
      });
      return w.next<ReportMessage>('report');
    }),
  );
  const serverCpu = cpuSeconds(server.pid) - atOpen.server;
  const clientsCpu = clientCpu() - atOpen.clients;
  const machineCores = busyCores(atOpen.machine);
  probe.ws.terminate();
  const [bucketsBefore, bucketsAfter] = [
    await metricsAtOpen,
    server.kind === 'uws' ? await deliveryLatencyBuckets(server.metricsPort) : null,
  ];

  const histogram = new LatencyHistogram();
  for (const r of reports) histogram.merge(r.histogram);
  const windowFrames = reports.reduce((n, r) => n + r.windowFrames, 0);
  const framesSinceOpen = reports.reduce((n, r) => n + r.framesSinceWindowOpened, 0);
  const lastReceiptUs = Math.max(...reports.map((r) => r.lastReceiptUs));
  const elapsedS = (Math.max(toUs, lastReceiptUs) - fromUs) / 1e6;
  const expected = published * options.open;
  return {
    published,
    deliveriesPerSecond: framesSinceOpen / elapsedS,
    deliveredShare: windowFrames / expected,
    // Frames that never arrived count as slower than every one that did.
    p50Ms: histogram.percentileMs(50, expected),
    p99Ms: histogram.percentileMs(99, expected),
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
    cpuPerThousandAlerts: serverCpu / (published / 1e3),
    serverCores: serverCpu / elapsedS,
    clientCores: clientsCpu / elapsedS,
    machineCores,
    rssUnderLoadMiB: rssUnderLoad / 1024,
    notes: reportNotes(reports, options.drainTimeoutMs, server.output),
  };
}

function reportNotes(reports: ReportMessage[], drainTimeoutMs: number, output: string[]) {
  const notes: string[] = [];
  const closes = sumCounts(reports.map((r) => r.closes));
  if (Object.keys(closes).length) notes.push(`server closed connections: ${show(closes)}`);
  const errors = sumCounts(reports.map((r) => r.errorFrames));
  if (Object.keys(errors).length) notes.push(`error frames: ${show(errors)}`);
  if (reports.some((r) => !r.complete)) {
    notes.push(`not every frame arrived within ${drainTimeoutMs / 1000} s of the last publish`);
  }
  if (output.length) notes.push(`server logged ${output.length} lines; first: ${output[0]}`);
  return notes;
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

// ---- formatting ------------------------------------------------------------------------

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';

export const fmtMs = (ms: number) =>
  ms === Number.POSITIVE_INFINITY
    ? 'lost'
    : ms >= 1000
      ? `${fmt(ms / 1000, 2)} s`
      : `${fmt(ms, ms < 10 ? 2 : 1)} ms`;

/** A histogram bucket's upper bound, in ms, compactly (Infinity: past the last bound, 2.5 s). */
export const fmtBound = (ms: number) =>
  Number.isFinite(ms) ? `${fmt(ms, ms < 10 ? 1 : 0)}` : '2500+';

/**
 * A migrated database of the run's own: the fan-out checks every operator token against
 * PostgreSQL (revocations), so it cannot run on an empty one. Dropped by cleanUpRun().
 */
export async function prepareDatabase(databaseUrl: string): Promise<void> {
  await ensureDatabaseExists(databaseUrl);
  await migrateDatabase({ databaseUrl });
}
