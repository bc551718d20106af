// pnpm bench:tasks — response actions end to end: the ingest service and the fan-out as their
// own processes (their builds), PostgreSQL, Redis, BENCH_AGENTS connected agents in
// BENCH_AGENT_PROCESSES child processes (task-bench-agents.ts: the SDK client with the real
// agent's task executor and policy, shell_execute restricted to this run's allow-list), tasks
// created over REST (`POST /api/hosts/{id}/tasks`, an admin API token) and a watching browser
// (a WebSocket on /ws/alerts subscribed to `task` frames). Three questions, each next to a
// baseline from the same run:
//   dispatch: create → RUNNING on the agent (its executor starts) and → SUCCEEDED in the browser,
//             next to create → 201 (the write alone), for `echo` tasks one at a time
//             (round-robin over the hosts) and one per host at once;
//   output:   bytes/s and chunk latency (the line's write time, stamped by the command, → the
//             browser's receipt) of a shell task writing BENCH_OUTPUT_MIB MiB as fast as it can,
//             and paced, next to the same command read straight from a pipe (its own speed);
//   alerts:   alerts/s one agent gets acknowledged (stored) while a task on that host streams
//             output, next to the same agent without one (before and after).
// The per-task output cap is raised to BENCH_OUTPUT_CAP_MIB for this run (agent, ingest and
// fan-out). The run uses a database of its own (tripwire_bench_tasks_<time>: created, migrated
// and dropped at the end) and a Redis key prefix of its own (deleted at the end).
//
// Knobs: BENCH_AGENTS (100), BENCH_AGENT_PROCESSES (4), BENCH_OUTPUT_MIB (8),
// BENCH_PACED_KIB (1024 at BENCH_PACED_KIB_S 512 KiB/s), BENCH_CONTENTION_MIB (24),
// BENCH_ALERT_WINDOW_MS (3000), BENCH_OUTPUT_CAP_MIB (32), DATABASE_URL / REDIS_URL.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusPublisher, createRedisClient, serializeAlertMessage } from '@tripwire/bus';
import {
  createApiToken,
  createPool,
  ensureDatabaseExists,
  migrateDatabase,
  type Pool,
} from '@tripwire/storage';
import { nowUs } from './alert-frame.js';
import {
  type BuiltService,
  CPUS,
  cpuSeconds,
  freePort,
  machineTicks,
  sleep,
  startBuiltService,
  stopChild,
  track,
  untilOk,
} from './bench-process.js';
import { LatencyHistogram } from './latency-histogram.js';
import { OutputFlow } from './output-stamps.js';
import type { AgentsCommand, AgentsMessage, StartCommand } from './task-bench-agents.js';
import { countAlertFrames, type TaskSeen, TaskWatcher } from './task-watcher.js';

const MIB = 1024 * 1024;
const AGENTS = Number(process.env.BENCH_AGENTS ?? 100);
const AGENT_PROCESSES = Number(process.env.BENCH_AGENT_PROCESSES ?? 4);
const OUTPUT_BYTES = Number(process.env.BENCH_OUTPUT_MIB ?? 8) * MIB;
const PACED_BYTES = Number(process.env.BENCH_PACED_KIB ?? 1024) * 1024;
const PACED_RATE = Number(process.env.BENCH_PACED_KIB_S ?? 512) * 1024;
const CONTENTION_BYTES = Number(process.env.BENCH_CONTENTION_MIB ?? 24) * MIB;
const ALERT_WINDOW_MS = Number(process.env.BENCH_ALERT_WINDOW_MS ?? 3_000);
const OUTPUT_CAP = Number(process.env.BENCH_OUTPUT_CAP_MIB ?? 32) * MIB;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN_ID = Date.now().toString(36);
const ADMIN_DATABASE_URL =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE_URL = (() => {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/tripwire_bench_tasks_${RUN_ID}`;
  return url.toString();
})();
const PREFIX = `bench:tasks:${RUN_ID}:`;
const ENROLLMENT_TOKEN = `bench-tasks-enrollment-${randomUUID()}`;
const JWT_SECRET = `bench-tasks-secret-${randomUUID()}`;
const FANOUT_DIR = new URL('..', import.meta.url).pathname;
const INGEST_DIR = new URL('../../ingest', import.meta.url).pathname;
const AGENTS_SCRIPT = new URL('./task-bench-agents.ts', import.meta.url).pathname;
const EMITTER = new URL('./task-output-emitter.mjs', import.meta.url).pathname;
const TASK_TIMEOUT_S = 120;
const FINAL_WAIT_MS = 60_000;

/** The run's task limits: the cap raised, the operator and host rate limits off. */
const TASK_LIMITS = {
  TASK_OUTPUT_MAX_BYTES: String(OUTPUT_CAP),
  TASKS_PER_OPERATOR_PER_MINUTE: '0',
  TASKS_PER_HOST_PER_MINUTE: '0',
  TASKS_MAX_QUEUED_PER_HOST: '0',
};

// ---- the stack ---------------------------------------------------------------------------

interface Stack {
  pool: Pool;
  ingest: BuiltService;
  fanout: BuiltService;
  base: string;
  wsBase: string;
  token: string;
  workers: ChildProcess[];
  /** Host ids in agent order; agent n lives in worker floor(n / perWorker). */
  hosts: string[];
  perWorker: number;
  /** Task id → when the agent's executor started it (µs since the epoch). */
  runningAt: Map<string, number>;
  tempDir: string;
}

async function startIngest(grpcPort: number): Promise<BuiltService> {
  const httpPort = await freePort();
  const ingest = startBuiltService('ingest', INGEST_DIR, {
    DATABASE_URL,
    REDIS_URL,
    BUS_KEY_PREFIX: PREFIX,
    ENROLLMENT_TOKEN,
    GRPC_INSECURE: 'true',
    GRPC_HOST: '127.0.0.1',
    GRPC_PORT: String(grpcPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'warn',
    ...TASK_LIMITS,
  });
  await untilOk(ingest, `http://127.0.0.1:${httpPort}/readyz`, 30_000);
  return ingest;
}

async function startFanout(port: number, publisher: BusPublisher): Promise<BuiltService> {
  const fanout = startBuiltService('fan-out', FANOUT_DIR, {
    DATABASE_URL,
    REDIS_URL,
    BUS_KEY_PREFIX: PREFIX,
    OPERATOR_JWT_SECRET: JWT_SECRET,
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    ...TASK_LIMITS,
  });
  const base = `http://127.0.0.1:${port}`;
  await untilOk(fanout, `${base}/healthz`, 30_000);
  // Readiness waits for the first XREAD to answer, which an empty stream makes take its full
  // 5 s block: a priming alert (on a host of no agent) answers it at once.
  let polls = 0;
  await untilOk(fanout, `${base}/readyz`, 15_000, () => {
    if (polls++ % 5 === 0) publisher.publishSerialized([primingAlert()]);
  });
  return fanout;
}

function primingAlert(): string {
  const at = new Date();
  return serializeAlertMessage(
    {
      alert_id: randomUUID(),
      host_id: randomUUID(),
      hostname: 'bench-priming',
      timestamp: at.toISOString(),
      timestamp_us: at.getTime() * 1000,
      received_at: at.toISOString(),
      tripwire_type: 'FILE',
      rule_name: 'bench-priming',
      severity: 'INFO',
    },
    null,
  );
}

const escapeRe2 = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/** The agents' allow-list: `echo` of a word, and the emitter with two numbers. */
function writeAllowFile(dir: string): string {
  const file = join(dir, 'shell-allow');
  writeFileSync(
    file,
    `echo [a-z0-9-]+\n${escapeRe2(process.execPath)} ${escapeRe2(EMITTER)} [0-9]+ [0-9]+\n`,
    { mode: 0o644 },
  );
  return file;
}

function forkAgents(start: Omit<StartCommand, 'first' | 'count'>, stack: Stack) {
  const perWorker = Math.ceil(AGENTS / AGENT_PROCESSES);
  const ready: Array<Promise<string[]>> = [];
  for (let first = 0; first < AGENTS; first += perWorker) {
    const worker = track(
      spawn(process.execPath, ['--conditions=@tripwire/source', '--import', 'tsx', AGENTS_SCRIPT], {
        cwd: FANOUT_DIR,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    stack.workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.on('message', (message: AgentsMessage) => {
          if (message.type === 'ready') resolve(message.hostIds);
          else if (message.type === 'failed') reject(new Error(message.error));
          else if (message.type === 'running') stack.runningAt.set(message.taskId, message.atUs);
        });
        worker.once('exit', (code) => reject(new Error(`agent process exited (${code})`)));
      }),
    );
    const count = Math.min(perWorker, AGENTS - first);
    worker.send({ ...start, type: 'start', first, count } satisfies AgentsCommand);
  }
  stack.perWorker = perWorker;
  return Promise.all(ready);
}

/** Until every host's task channel holds the policy its agent reported. */
async function untilChannels(pool: Pool, hosts: string[]): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM host_task_channels
       WHERE host_id = ANY($1) AND stream_id IS NOT NULL AND policy IS NOT NULL`,
      [hosts],
    );
    if (Number(rows[0]!.n) === hosts.length) return;
  }
  throw new Error('not every agent opened its task channel within 60 s');
}

async function startStack(publisher: BusPublisher): Promise<Stack> {
  await ensureDatabaseExists(DATABASE_URL);
  await migrateDatabase({ databaseUrl: DATABASE_URL });
  const pool = createPool({ databaseUrl: DATABASE_URL, max: 2 });
  const grpcPort = await freePort();
  const port = await freePort();
  const ingest = await startIngest(grpcPort);
  const fanout = await startFanout(port, publisher);
  const { secret } = await createApiToken(pool, {
    name: 'bench-tasks',
    role: 'admin',
    createdBy: 'bench',
    expiresInS: 3600,
  });
  const tempDir = mkdtempSync(join(tmpdir(), 'tw-bench-tasks-'));
  const stack: Stack = {
    pool,
    ingest,
    fanout,
    base: `http://127.0.0.1:${port}`,
    wsBase: `ws://127.0.0.1:${port}/ws/alerts?access_token=${secret}`,
    token: secret,
    workers: [],
    hosts: [],
    perWorker: 0,
    runningAt: new Map(),
    tempDir,
  };
  const hostLists = await forkAgents(
    {
      type: 'start',
      server: `127.0.0.1:${grpcPort}`,
      enrollmentToken: ENROLLMENT_TOKEN,
      allowFile: writeAllowFile(tempDir),
      outputMaxBytes: OUTPUT_CAP,
      runId: RUN_ID,
    },
    stack,
  );
  stack.hosts = hostLists.flat();
  await untilChannels(pool, stack.hosts);
  return stack;
}

// ---- REST ----------------------------------------------------------------------------

const createErrors: Record<string, number> = {};

interface Created {
  taskId: string | null;
  createdUs: number;
  answeredUs: number;
}

/** POST /api/hosts/{id}/tasks: a shell task running `cmd`. */
async function createTask(stack: Stack, hostId: string, cmd: string): Promise<Created> {
  const createdUs = nowUs();
  let taskId: string | null = null;
  try {
    const res = await fetch(`${stack.base}/api/hosts/${hostId}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        action: 'shell_execute',
        parameters: { cmd },
        timeout_seconds: TASK_TIMEOUT_S,
      }),
    });
    const body = (await res.json()) as { task?: { task_id: string } };
    if (res.status === 201 && body.task) taskId = body.task.task_id;
    else createErrors[res.status] = (createErrors[res.status] ?? 0) + 1;
  } catch (err) {
    const key = (err as Error).message;
    createErrors[key] = (createErrors[key] ?? 0) + 1;
  }
  return { taskId, createdUs, answeredUs: nowUs() };
}

const emitterCmd = (bytes: number, rate: number) =>
  `${process.execPath} ${EMITTER} ${Math.round(bytes)} ${Math.round(rate)}`;

// ---- CPU -----------------------------------------------------------------------------------

interface Cpu {
  ingest: number;
  fanout: number;
  agents: number;
  machine: number;
}

function cpuMeter(stack: Stack) {
  const sample = () => ({
    at: performance.now(),
    ingest: cpuSeconds(stack.ingest.pid),
    fanout: cpuSeconds(stack.fanout.pid),
    agents: stack.workers.reduce((sum, w) => sum + cpuSeconds(w.pid!), 0),
    machine: machineTicks(),
  });
  const start = sample();
  return (): Cpu => {
    const end = sample();
    const seconds = (end.at - start.at) / 1000;
    return {
      ingest: (end.ingest - start.ingest) / seconds,
      fanout: (end.fanout - start.fanout) / seconds,
      agents: (end.agents - start.agents) / seconds,
      machine:
        ((end.machine.busy - start.machine.busy) / (end.machine.total - start.machine.total)) *
        CPUS,
    };
  };
}

// ---- dispatch --------------------------------------------------------------------------

interface DispatchRun {
  created: Created[];
  seen: TaskSeen[];
  runningAt: number[];
  seconds: number;
  cpu: Cpu;
}

async function dispatchPhase(
  stack: Stack,
  watcher: TaskWatcher,
  mode: 'seq' | 'burst',
): Promise<DispatchRun> {
  const cpu = cpuMeter(stack);
  const t0 = performance.now();
  const created: Created[] = [];
  const seen: TaskSeen[] = [];
  const one = async (i: number) => {
    const c = await createTask(stack, stack.hosts[i]!, `echo bench-${mode}-${i}`);
    created[i] = c;
    seen[i] = c.taskId
      ? await watcher.final(c.taskId, FINAL_WAIT_MS)
      : { states: new Map(), final: null };
  };
  if (mode === 'seq') for (let i = 0; i < stack.hosts.length; i++) await one(i);
  else await Promise.all(stack.hosts.map((_, i) => one(i)));
  const seconds = (performance.now() - t0) / 1000;
  const runningAt = created.map((c) =>
    c.taskId ? (stack.runningAt.get(c.taskId) ?? Number.NaN) : Number.NaN,
  );
  return { created, seen, runningAt, seconds, cpu: cpu() };
}

// ---- output ----------------------------------------------------------------------------

interface OutputRun {
  flow: OutputFlow;
  /** POST → SUCCEEDED in the browser, s; NaN for the pipe. */
  totalSeconds: number;
  state: string;
  truncated: boolean;
  cpu: Cpu;
}

/** The emitter read straight from a pipe by this process: the command's own speed. */
async function pipeRun(stack: Stack, bytes: number, rate: number): Promise<OutputRun> {
  const cpu = cpuMeter(stack);
  const flow = new OutputFlow();
  const child = spawn(process.execPath, [EMITTER, String(bytes), String(rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => flow.add(text, text.length, nowUs()));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  return {
    flow,
    totalSeconds: Number.NaN,
    state: code === 0 ? 'exit 0' : `exit ${code}`,
    truncated: false,
    cpu: cpu(),
  };
}

/** The emitter as a shell task on `hostId`, its output followed in the browser. */
async function taskRun(
  stack: Stack,
  watcher: TaskWatcher,
  hostId: string,
  bytes: number,
  rate: number,
  onRunning?: (taskId: string) => void,
): Promise<OutputRun> {
  const cpu = cpuMeter(stack);
  const flow = new OutputFlow();
  const created = await createTask(stack, hostId, emitterCmd(bytes, rate));
  if (!created.taskId) throw new Error(`creating the output task: ${JSON.stringify(createErrors)}`);
  const taskId = created.taskId;
  watcher.follow(taskId, (output, atUs) =>
    flow.add(output.text ?? '', output.bytes, atUs, `${output.sequence}:${output.stream}`),
  );
  if (onRunning) {
    while (!stack.runningAt.has(taskId) && !watcher.seen(taskId).final) await sleep(5);
    onRunning(taskId);
  }
  const seen = await watcher.final(taskId, FINAL_WAIT_MS);
  return {
    flow,
    totalSeconds: ((seen.final?.atUs ?? Number.NaN) - created.createdUs) / 1e6,
    state: seen.final?.state ?? 'no outcome',
    truncated: seen.final?.truncated ?? false,
    cpu: cpu(),
  };
}

// ---- alerts -----------------------------------------------------------------------------

interface AlertWindow {
  acked: number;
  seconds: number;
  frames: number;
  output?: OutputRun;
  cpu: Cpu;
}

/** The probe agent is agent 0: the first agent of the first process. */
function ackedOfProbe(stack: Stack): Promise<{ acked: number; atUs: number }> {
  const worker = stack.workers[0]!;
  return new Promise((resolve) => {
    const onMessage = (message: AgentsMessage) => {
      if (message.type !== 'acked') return;
      worker.off('message', onMessage);
      resolve(message);
    };
    worker.on('message', onMessage);
    worker.send({ type: 'acked', agent: 0 } satisfies AgentsCommand);
  });
}

const framesBetween = (times: number[], fromUs: number, toUs: number) =>
  times.filter((t) => t >= fromUs && t < toUs).length;

async function quietWindow(stack: Stack, frames: number[]): Promise<AlertWindow> {
  const cpu = cpuMeter(stack);
  const a = await ackedOfProbe(stack);
  await sleep(ALERT_WINDOW_MS);
  const b = await ackedOfProbe(stack);
  return {
    acked: b.acked - a.acked,
    seconds: (b.atUs - a.atUs) / 1e6,
    frames: framesBetween(frames, a.atUs, b.atUs),
    cpu: cpu(),
  };
}

/** From the moment the probe's executor starts the task until the browser sees it end. */
async function busyWindow(
  stack: Stack,
  watcher: TaskWatcher,
  frames: number[],
): Promise<AlertWindow> {
  let start: Promise<{ acked: number; atUs: number }> | null = null;
  const output = await taskRun(stack, watcher, stack.hosts[0]!, CONTENTION_BYTES, 0, () => {
    start = ackedOfProbe(stack);
  });
  const b = await ackedOfProbe(stack);
  const a = await start!;
  return {
    acked: b.acked - a.acked,
    seconds: (b.atUs - a.atUs) / 1e6,
    frames: framesBetween(frames, a.atUs, b.atUs),
    output,
    cpu: output.cpu,
  };
}

async function alertPhase(stack: Stack, watcher: TaskWatcher) {
  const probe = stack.hosts[0]!;
  const { times, ws } = await countAlertFrames(`${stack.wsBase}&kind=alert&host_id=${probe}`);
  const pump = (on: boolean) =>
    stack.workers[0]!.send({ type: 'pump', agent: 0, on } satisfies AgentsCommand);
  pump(true);
  try {
    await sleep(2_000); // the outbox filled, the stream at its pace
    const before = await quietWindow(stack, times);
    const during = await busyWindow(stack, watcher, times);
    const after = await quietWindow(stack, times);
    return { before, during, after };
  } finally {
    pump(false);
    ws.terminate();
  }
}

// ---- report ------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : 'n/a';
const fmtMs = (ms: number) =>
  !Number.isFinite(ms) ? 'n/a' : ms >= 1000 ? `${fmt(ms / 1000, 2)} s` : `${fmt(ms, 1)} ms`;
const fmtRate = (bytesPerSecond: number) => `${fmt(bytesPerSecond / MIB, 1)} MiB/s`;
const cpuText = (c: Cpu) =>
  `${fmt(c.ingest, 2)}/${fmt(c.fanout, 2)}/${fmt(c.agents, 2)}/${fmt(c.machine, 2)}`;

function table(title: string, heads: string[], rows: Array<[string, ...string[]]>) {
  const width = 24;
  console.log(`\n${title}`);
  console.log(`  ${''.padEnd(44)}${heads.map((h) => h.padStart(width)).join('')}`);
  for (const [label, ...cells] of rows)
    console.log(`  ${label.padEnd(44)}${cells.map((c) => c.padStart(width)).join('')}`);
}

function latencies(values: number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of values) if (Number.isFinite(v)) h.record(Math.max(0, v));
  return h;
}

function printDispatch(run: DispatchRun, title: string) {
  const n = run.created.length;
  const ok = run.seen.filter((s) => s.final?.state === 'SUCCEEDED').length;
  const answer = latencies(run.created.map((c) => c.answeredUs - c.createdUs));
  const running = latencies(run.runningAt.map((at, i) => at - run.created[i]!.createdUs));
  const runningSeen = latencies(
    run.seen.map((s, i) => (s.states.get('RUNNING') ?? Number.NaN) - run.created[i]!.createdUs),
  );
  const done = latencies(
    run.seen.map((s, i) =>
      s.final?.state === 'SUCCEEDED' ? s.final.atUs - run.created[i]!.createdUs : Number.NaN,
    ),
  );
  const pct = (h: LatencyHistogram, p: number) => fmtMs(h.percentileMs(p, n));
  table(
    `${title}: ${fmt(ok)} of ${fmt(n)} SUCCEEDED in ${fmt(run.seconds, 2)} s`,
    [
      '-> 201 (baseline)',
      '-> RUNNING on agent',
      '-> RUNNING in browser',
      '-> SUCCEEDED in browser',
    ],
    [50, 90, 99, 100].map((p) => [
      p === 100 ? 'max' : `p${p}`,
      pct(answer, p),
      pct(running, p),
      pct(runningSeen, p),
      pct(done, p),
    ]),
  );
  console.log(`  CPU cores ingest/fan-out/agents/machine: ${cpuText(run.cpu)}`);
}

function printOutput(title: string, runs: Array<[string, OutputRun]>) {
  const cell = (f: (r: OutputRun) => string) => runs.map(([, r]) => f(r));
  table(
    title,
    runs.map(([name]) => name),
    [
      ['outcome', ...cell((r) => `${r.state}${r.truncated ? ' (truncated)' : ''}`)],
      ['bytes received', ...cell((r) => fmt(r.flow.bytes))],
      ['chunks (repeats dropped)', ...cell((r) => `${fmt(r.flow.chunks)} (${r.flow.duplicates})`)],
      ['first line written -> last byte received', ...cell((r) => `${fmt(r.flow.seconds, 2)} s`)],
      ['throughput', ...cell((r) => fmtRate(r.flow.bytesPerSecond))],
      [
        'create -> SUCCEEDED in browser',
        ...cell((r) => (Number.isFinite(r.totalSeconds) ? `${fmt(r.totalSeconds, 2)} s` : '-')),
      ],
      [
        'chunk latency p50 / p99',
        ...cell(
          (r) =>
            `${fmtMs(r.flow.latency.percentileMs(50))} / ${fmtMs(r.flow.latency.percentileMs(99))}`,
        ),
      ],
      ['chunk latency max', ...cell((r) => fmtMs(r.flow.maxLatencyUs / 1000))],
      ['CPU cores ingest/fan-out/agents/machine', ...cell((r) => cpuText(r.cpu))],
    ],
  );
}

function printAlerts(windows: { before: AlertWindow; during: AlertWindow; after: AlertWindow }) {
  const cols = [windows.before, windows.during, windows.after];
  const cell = (f: (w: AlertWindow) => string) => cols.map(f);
  table(
    "one agent's alerts while a task on its host streams output",
    ['no task (before)', 'task streaming', 'no task (after)'],
    [
      ['window', ...cell((w) => `${fmt(w.seconds, 2)} s`)],
      ['alerts acknowledged (stored) /s', ...cell((w) => fmt(w.acked / w.seconds))],
      ['alert frames in the browser /s', ...cell((w) => fmt(w.frames / w.seconds))],
      [
        'task output to the browser',
        ...cell((w) =>
          w.output ? `${fmtRate(w.output.flow.bytesPerSecond)} (${w.output.state})` : '-',
        ),
      ],
      ['CPU cores ingest/fan-out/agents/machine', ...cell((w) => cpuText(w.cpu))],
    ],
  );
  const base =
    (windows.before.acked / windows.before.seconds + windows.after.acked / windows.after.seconds) /
    2;
  const busy = windows.during.acked / windows.during.seconds;
  console.log(`  alerts/s with a task streaming: ${fmt((busy / base) * 100, 0)}% of without`);
}

// ---- set-up and clean-up ------------------------------------------------------------------

async function cleanUp(): Promise<string> {
  const redis = createRedisClient(REDIS_URL);
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  redis.disconnect();
  const admin = createPool({ databaseUrl: ADMIN_DATABASE_URL, max: 1 });
  const name = new URL(DATABASE_URL).pathname.slice(1);
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  return `cleaned up ${deleted} Redis keys under ${PREFIX} and dropped database ${name}`;
}

async function stopStack(stack: Stack | null): Promise<void> {
  if (!stack) return;
  await Promise.all(
    stack.workers.map(async (worker) => {
      if (worker.exitCode !== null) return;
      const exited = new Promise((r) => worker.once('exit', r));
      worker.send({ type: 'stop' } satisfies AgentsCommand);
      await Promise.race([exited, sleep(10_000)]);
      worker.kill('SIGKILL');
    }),
  );
  await stopChild(stack.fanout.child);
  await stopChild(stack.ingest.child);
  await stack.pool.end();
  rmSync(stack.tempDir, { recursive: true, force: true });
}

async function runPhases(stack: Stack) {
  const { watcher, ws } = await TaskWatcher.connect(`${stack.wsBase}&kind=task`);
  try {
    process.stderr.write('dispatch…\n');
    const seq = await dispatchPhase(stack, watcher, 'seq');
    const burst = await dispatchPhase(stack, watcher, 'burst');
    process.stderr.write('output…\n');
    const pipeFull = await pipeRun(stack, OUTPUT_BYTES, 0);
    const taskFull = await taskRun(stack, watcher, stack.hosts[1]!, OUTPUT_BYTES, 0);
    const pipePaced = await pipeRun(stack, PACED_BYTES, PACED_RATE);
    const taskPaced = await taskRun(stack, watcher, stack.hosts[1]!, PACED_BYTES, PACED_RATE);
    process.stderr.write('alerts…\n');
    const alerts = await alertPhase(stack, watcher);
    return { seq, burst, pipeFull, taskFull, pipePaced, taskPaced, alerts };
  } finally {
    ws.terminate();
  }
}

async function main() {
  const started = performance.now();
  console.log(
    `TripWire task benchmark: ${AGENTS} agents in ${AGENT_PROCESSES} processes; output ` +
      `${fmt(OUTPUT_BYTES / MIB)} MiB full speed and ${fmt(PACED_BYTES / 1024)} KiB at ` +
      `${fmt(PACED_RATE / 1024)} KiB/s; output cap ${fmt(OUTPUT_CAP / MIB)} MiB; ${CPUS} cores`,
  );
  const publisherRedis = createRedisClient(REDIS_URL, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: PREFIX });
  let stack: Stack | null = null;
  try {
    stack = await startStack(publisher);
    console.log(`(set-up: ${fmt((performance.now() - started) / 1000, 1)} s)`);
    const r = await runPhases(stack);
    printDispatch(r.seq, `${fmt(AGENTS)} echo tasks one at a time (round-robin over the hosts)`);
    printDispatch(r.burst, `${fmt(AGENTS)} echo tasks at once (one per host)`);
    printOutput(`output of one shell task, ${fmt(OUTPUT_BYTES / MIB)} MiB as fast as it goes`, [
      ['pipe (baseline)', r.pipeFull],
      ['agent -> browser', r.taskFull],
    ]);
    printOutput(
      `output of one shell task, ${fmt(PACED_BYTES / 1024)} KiB paced at ${fmt(PACED_RATE / 1024)} KiB/s`,
      [
        ['pipe (baseline)', r.pipePaced],
        ['agent -> browser', r.taskPaced],
      ],
    );
    printAlerts(r.alerts);
    if (Object.keys(createErrors).length)
      console.log(`\n  task creation failures: ${JSON.stringify(createErrors)}`);
    for (const s of [stack.ingest, stack.fanout])
      if (s.output.length)
        console.log(`  ${s.name} logged ${s.output.length} lines; first: ${s.output[0]}`);
  } finally {
    await stopStack(stack);
    publisher.close();
    publisherRedis.disconnect();
    console.log(
      `\n(${await cleanUp()}; whole run ${fmt((performance.now() - started) / 1000, 1)} s)`,
    );
  }
  process.exit(0);
}

process.once('SIGINT', () => {
  console.log('\ninterrupted: cleaning up');
  process.exitCode = 130;
  void cleanUp().finally(() => process.exit(130));
});

await main();
