// The task benchmark's stack (see task-bench.ts): its settings, the ingest service and the
// fan-out as their own processes on a database and Redis key prefix of their own, the agent
// processes, task creation over REST, CPU use, and the clean-up.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusPublisher } from '@tripwire/bus';
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
import { benchRun, cleanUpRun, untilFanoutReady } from './bench-run.js';
import type { AgentsCommand, AgentsMessage, StartCommand } from './task-bench-agents.js';

export const MIB = 1024 * 1024;
export const AGENTS = Number(process.env.BENCH_AGENTS ?? 100);
export const AGENT_PROCESSES = Number(process.env.BENCH_AGENT_PROCESSES ?? 4);
export const OUTPUT_BYTES = Number(process.env.BENCH_OUTPUT_MIB ?? 8) * MIB;
export const PACED_BYTES = Number(process.env.BENCH_PACED_KIB ?? 1024) * 1024;
export const PACED_RATE = Number(process.env.BENCH_PACED_KIB_S ?? 512) * 1024;
export const CONTENTION_BYTES = Number(process.env.BENCH_CONTENTION_MIB ?? 24) * MIB;
export const ALERT_ROUNDS = Number(process.env.BENCH_ALERT_ROUNDS ?? 2);
export const ALERT_WINDOW_MS = Number(process.env.BENCH_ALERT_WINDOW_MS ?? 3_000);
export const OUTPUT_CAP = Number(process.env.BENCH_OUTPUT_CAP_MIB ?? 32) * MIB;
/** This run's database and Redis key prefix. */
export const RUN = benchRun('tasks');
const { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, prefix: PREFIX } = RUN;
const ENROLLMENT_TOKEN = `bench-tasks-enrollment-${randomUUID()}`;
const JWT_SECRET = `bench-tasks-secret-${randomUUID()}`;
const FANOUT_DIR = new URL('..', import.meta.url).pathname;
const INGEST_DIR = new URL('../../ingest', import.meta.url).pathname;
const AGENTS_SCRIPT = new URL('./task-bench-agents.ts', import.meta.url).pathname;
export const EMITTER = new URL('./task-output-emitter.mjs', import.meta.url).pathname;
const TASK_TIMEOUT_S = 120;
export const FINAL_WAIT_MS = 60_000;

/** The run's task limits: the cap raised, the operator and host rate limits off. */
const TASK_LIMITS = {
  TASK_OUTPUT_MAX_BYTES: String(OUTPUT_CAP),
  TASKS_PER_OPERATOR_PER_MINUTE: '0',
  TASKS_PER_HOST_PER_MINUTE: '0',
  TASKS_MAX_QUEUED_PER_HOST: '0',
};

// ---- the stack ---------------------------------------------------------------------------

export interface Stack {
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
    OPERATOR_JWT_SECRET: JWT_SECRET,
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
  await untilFanoutReady(fanout, `http://127.0.0.1:${port}`, publisher);
  return fanout;
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

export async function startStack(publisher: BusPublisher): Promise<Stack> {
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
      runId: RUN.runId,
    },
    stack,
  );
  stack.hosts = hostLists.flat();
  await untilChannels(pool, stack.hosts);
  return stack;
}

// ---- REST ----------------------------------------------------------------------------

export const createErrors: Record<string, number> = {};

export interface Created {
  taskId: string | null;
  createdUs: number;
  answeredUs: number;
}

/** POST /api/hosts/{id}/tasks: a shell task running `cmd`. */
export async function createTask(stack: Stack, hostId: string, cmd: string): Promise<Created> {
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

export const emitterCmd = (bytes: number, rate: number) =>
  `${process.execPath} ${EMITTER} ${Math.round(bytes)} ${Math.round(rate)}`;

// ---- CPU -----------------------------------------------------------------------------------

export interface Cpu {
  ingest: number;
  fanout: number;
  agents: number;
  machine: number;
}

export function cpuMeter(stack: Stack) {
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

// ---- set-up and clean-up ------------------------------------------------------------------

export const cleanUp = () => cleanUpRun(RUN);

export async function stopStack(stack: Stack | null): Promise<void> {
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
