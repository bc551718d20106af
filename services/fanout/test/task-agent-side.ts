// The ingest side of response actions played through storage's own functions, as the task
// manager calls them: a host's task channel and policy, claiming its queued tasks, and the
// agent's responses stored and published on the bus. For the fan-out's REST and WebSocket
// tests, which are about what operators see, not about gRPC (ingest's own tests cover that).
import { randomBytes, randomUUID } from 'node:crypto';
import {
  type AgentTaskStatus,
  claimTasksForHost,
  openTaskChannel,
  recordTaskPolicy,
  recordTaskResponse,
  type TaskOutputPiece,
  type TaskPolicy,
  taskMessage,
  toTaskJson,
  upsertHost,
} from '@tripwire/storage';
import type { TaskJson } from '@tripwire/wire';
import { type Environment, publishMessages } from './fanout-harness.js';

export const ALL_BUT_SHELL: TaskPolicy = {
  enabledActions: [
    'process_list',
    'network_connections',
    'file_hash',
    'file_fetch',
    'kill_process',
    'quarantine_file',
    'restore_file',
  ],
  shellRestricted: true,
  shellAllowPatterns: [],
  killSwitch: false,
  maxTimeoutSeconds: 3600,
  defaultTimeoutSeconds: 60,
  maxOutputBytes: 1 << 20,
  maxFetchBytes: 10 << 20,
  maxConcurrentTasks: 2,
};

export async function newHost(env: Environment) {
  return upsertHost(env.pool, {
    hostname: `host-${randomUUID().slice(0, 8)}`,
    platform: 'linux',
    agentVersion: '2.0',
    agentTokenHash: randomBytes(32),
  });
}

/** One connected agent's task stream, as ingest records it. */
export async function connectAgent(env: Environment, hostId: string, policy = ALL_BUT_SHELL) {
  const streamId = randomUUID();
  await openTaskChannel(env.pool, hostId, streamId, 'test-ingest');
  await recordTaskPolicy(env.pool, hostId, streamId, policy);
  const publish = (event: Parameters<typeof taskMessage>[0], task: TaskJson, output?: never) =>
    publishMessages(env, [taskMessage(event, task, output)]);
  return {
    streamId,
    /** The host's queued tasks, DISPATCHED to this stream (and announced, as ingest does). */
    async claim(): Promise<TaskJson[]> {
      const rows = await claimTasksForHost(env.pool, { hostId, streamId, maxRunning: 4 });
      const tasks = rows.map(toTaskJson);
      for (const t of tasks) publish('updated', t);
      return tasks;
    },
    /** One agent response stored and each of its effects announced on the bus, as ingest does. */
    async respond(
      taskId: string,
      r: {
        sequence: number;
        status?: AgentTaskStatus;
        isFinal?: boolean;
        output?: TaskOutputPiece[];
        result?: Record<string, unknown>;
        exitCode?: number;
      },
    ) {
      const recorded = await recordTaskResponse(
        env.pool,
        {
          hostId,
          taskId,
          status: r.status ?? 'RUNNING',
          isFinal: r.isFinal ?? false,
          sequence: r.sequence,
          output: r.output ?? [],
          ...(r.result ? { result: r.result } : {}),
          ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        },
        { fetchMaxBytes: 10 << 20 },
      );
      const task = recorded.task!;
      const messages = recorded.outputs.map((o) => taskMessage('output', task, o));
      if (recorded.finished) messages.push(taskMessage('finished', task));
      else if (recorded.started) messages.push(taskMessage('updated', task));
      publishMessages(env, messages);
      return recorded;
    },
  };
}

export const text = (stream: 'stdout' | 'stderr' | 'listing', s: string): TaskOutputPiece => ({
  stream,
  data: Buffer.from(s),
});
