/**
 * One agent process of the task benchmark (forked by task-bench.ts; see there for what is
 * measured): `count` agents, each the SDK client with the real agent's task executor and policy
 * (services/agent: shell_execute on, restricted to the benchmark's allow-list), as
 * `tripwire-agent run` builds them, minus the sensors. Its own state folder per agent.
 *
 * Conversation with the parent, over the IPC channel:
 *   parent: start {...}            -> worker: ready {hostIds}   (every agent registered and started)
 *   worker: running {taskId, atUs}    whenever an agent's executor starts a task
 *   parent: pump {agent, on}          agent `agent` enqueues alerts back to back (or stops)
 *   parent: acked {agent}          -> worker: acked {agent, acked, atUs}
 *   parent: stop                   -> the agents stop, their folders are removed, the process ends
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '@tripwire/agent/src/agent-config.js';
import { clientOptions } from '@tripwire/agent/src/client-options.js';
import { createAgentTasks } from '@tripwire/agent/src/tasks/agent-tasks.js';
import type { TaskPolicy } from '@tripwire/agent/src/tasks/task-policy.js';
import { type AgentClient, createAgentClient, type TaskRunner } from '@tripwire/agent-sdk';
import { createLogger } from '@tripwire/logger';
import { nowUs } from './alert-frame.js';

export interface StartCommand {
  type: 'start';
  /** First agent's number, for host names. */
  first: number;
  count: number;
  server: string;
  enrollmentToken: string;
  allowFile: string;
  outputMaxBytes: number;
  runId: string;
}

export type AgentsCommand =
  | StartCommand
  | { type: 'pump'; agent: number; on: boolean }
  | { type: 'acked'; agent: number }
  | { type: 'stop' };

export type AgentsMessage =
  | { type: 'ready'; hostIds: string[] }
  | { type: 'running'; taskId: string; atUs: number }
  | { type: 'acked'; agent: number; acked: number; atUs: number }
  | { type: 'failed'; error: string };

interface BenchAgent {
  client: AgentClient;
  policy: TaskPolicy;
  stateDir: string;
  pumping: boolean;
}

const send = (message: AgentsMessage) => process.send?.(message);
const log = createLogger({ name: 'bench-agent', level: 'error' });
const agents: BenchAgent[] = [];
/** Alerts a pumping agent keeps in its outbox: enough that its stream never waits for more. */
const PUMP_QUEUE = 2_000;
const PUMP_BATCH = 250;

/** The executor as the agent has it, telling the parent the moment each task starts. */
function timed(runner: TaskRunner): TaskRunner {
  return {
    policy: () => runner.policy(),
    refusal: (request) => runner.refusal?.(request) ?? null,
    onPolicyChange: (listener) => runner.onPolicyChange?.(listener) ?? (() => {}),
    run: (request, ctx) => {
      send({ type: 'running', taskId: request.taskId, atUs: nowUs() });
      return runner.run(request, ctx);
    },
  };
}

async function startAgent(start: StartCommand, n: number): Promise<BenchAgent> {
  const stateDir = mkdtempSync(join(tmpdir(), 'tw-bench-task-agent-'));
  const config = loadAgentConfig(
    {},
    {
      TRIPWIRE_SERVER: start.server,
      TRIPWIRE_INSECURE: 'true',
      TRIPWIRE_ENROLL_TOKEN: start.enrollmentToken,
      TRIPWIRE_STATE_DIR: stateDir,
      TRIPWIRE_HOSTNAME: `bench-tasks-${start.runId}-${String(n).padStart(3, '0')}`,
      TRIPWIRE_TASK_ACTIONS: 'shell_execute',
      TRIPWIRE_TASK_SHELL_ALLOW_FILE: start.allowFile,
      TRIPWIRE_TASK_OUTPUT_MAX_BYTES: String(start.outputMaxBytes),
      TRIPWIRE_OUTBOX_MAX_MB: '256',
    },
  );
  const tasks = await createAgentTasks(config, log);
  const client = createAgentClient({ ...clientOptions(config, log), tasks: timed(tasks.executor) });
  await client.start();
  tasks.policy.watch();
  return { client, policy: tasks.policy, stateDir, pumping: false };
}

const alert = (i: number) => ({
  tripwireType: 'FILE' as const,
  severity: 'WARN' as const,
  ruleName: 'bench-app-config',
  detail: { path: `/etc/app/conf.d/${i}.conf`, change: 'modified', size: 1234 },
});

/** Keeps PUMP_QUEUE alerts waiting in the agent's outbox until told to stop. */
async function pump(agent: BenchAgent): Promise<void> {
  let i = 0;
  while (agent.pumping) {
    if (agent.client.stats().queued >= PUMP_QUEUE) {
      await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    await Promise.all(Array.from({ length: PUMP_BATCH }, () => agent.client.enqueue(alert(i++))));
  }
}

async function stopAll(): Promise<void> {
  for (const agent of agents) agent.pumping = false;
  await Promise.all(
    agents.map(async (agent) => {
      agent.policy.stop();
      await agent.client.stop();
      rmSync(agent.stateDir, { recursive: true, force: true });
    }),
  );
}

process.on('message', (command: AgentsCommand) => {
  switch (command.type) {
    case 'start':
      Promise.all(
        Array.from({ length: command.count }, (_, i) => startAgent(command, command.first + i)),
      ).then(
        (started) => {
          agents.push(...started);
          send({ type: 'ready', hostIds: started.map((a) => a.client.hostId) });
        },
        (err: unknown) => send({ type: 'failed', error: String(err) }),
      );
      break;
    case 'pump': {
      const agent = agents[command.agent]!;
      const wasPumping = agent.pumping;
      agent.pumping = command.on;
      if (command.on && !wasPumping) void pump(agent);
      break;
    }
    case 'acked':
      send({
        type: 'acked',
        agent: command.agent,
        acked: agents[command.agent]!.client.stats().acked,
        atUs: nowUs(),
      });
      break;
    case 'stop':
      void stopAll().finally(() => process.exit(0));
      break;
  }
});
// The parent went away without saying stop: do not linger.
process.on('disconnect', () => void stopAll().finally(() => process.exit(0)));
