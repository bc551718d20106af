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

import { spawn } from 'node:child_process';
import { BusPublisher, createRedisClient } from '@tripwire/bus';
import { parseCommandLine } from '@tripwire/config';
import { nowUs } from './alert-frame.js';
import { CPUS, sleep } from './bench-process.js';
import { OutputFlow } from './output-stamps.js';
import type { AgentsCommand, AgentsMessage } from './task-bench-agents.js';
import {
  type AlertWindow,
  type DispatchRun,
  fmt,
  type OutputRun,
  printAlerts,
  printDispatch,
  printOutput,
} from './task-bench-report.js';
import {
  AGENT_PROCESSES,
  AGENTS,
  ALERT_ROUNDS,
  ALERT_WINDOW_MS,
  CONTENTION_BYTES,
  type Created,
  cleanUp,
  cpuMeter,
  createErrors,
  createTask,
  EMITTER,
  emitterCmd,
  FINAL_WAIT_MS,
  MIB,
  OUTPUT_BYTES,
  OUTPUT_CAP,
  PACED_BYTES,
  PACED_RATE,
  RUN,
  type Stack,
  startStack,
  stopStack,
} from './task-bench-stack.js';
import { countAlertFrames, type TaskSeen, TaskWatcher } from './task-watcher.js';

parseCommandLine({
  usage: `usage: pnpm bench:tasks

Response actions end to end with connected agents: task latency, shell output to a browser,
a task's cost to its host's alert rate (BENCHMARKS.md). Takes no options; settings come from
the environment (defaults in bench/task-bench-stack.ts): BENCH_AGENTS (100),
BENCH_AGENT_PROCESSES (4), BENCH_OUTPUT_MIB (8), BENCH_PACED_KIB (1024), BENCH_PACED_KIB_S (512),
BENCH_CONTENTION_MIB (24), BENCH_ALERT_ROUNDS (2), BENCH_ALERT_WINDOW_MS (3000),
BENCH_OUTPUT_CAP_MIB (32); DATABASE_URL, REDIS_URL.`,
  options: {},
});

// ---- dispatch --------------------------------------------------------------------------

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
    // Alternated, so that whatever else the machine does weighs on both kinds of window alike.
    const windows: AlertWindow[] = [];
    for (let i = 0; i < 2 * ALERT_ROUNDS + 1; i++)
      windows.push(
        i % 2 === 0 ? await quietWindow(stack, times) : await busyWindow(stack, watcher, times),
      );
    return windows;
  } finally {
    pump(false);
    ws.terminate();
  }
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
  const publisherRedis = createRedisClient(RUN.redisUrl, { failFastWhileDisconnected: true });
  const publisher = new BusPublisher({ redis: publisherRedis, keyPrefix: RUN.prefix });
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
        console.log(
          `  ${s.name} logged ${s.output.length} lines (warnings and errors); the first ones:\n    ${s.output.slice(0, 5).join('\n    ')}`,
        );
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
