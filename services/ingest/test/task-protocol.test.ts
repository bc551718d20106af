// The server's side of the task channel against an agent played by hand over a real gRPC
// stream: dispatch order and limits, duplicate outcomes, policy refusals, server-side timeouts,
// agents that vanish, floods, two ingest instances. Real PostgreSQL, Redis and ingest.
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { getTask } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import {
  busReader,
  connect,
  errorCode,
  type RunningIngest,
  register,
  startIngest,
  useEnvironment,
} from './ingest-harness.js';
import {
  BareAgent,
  hostWithBareAgent,
  POLICY_ALL,
  type ResponseCalls,
  responseCalls,
  shellTask,
  TaskState,
  TaskStatus,
  until,
  watchTask,
} from './task-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let admin: ResponseCalls;
let adminToken: string;
const cleanups: Array<() => unknown> = [];

const FAST = {
  OPERATOR_JWT_SECRET,
  TASKS_SWEEP_MS: '100',
  HOST_HEARTBEAT_MS: '100',
  HOST_LEASE_MS: '1000',
  TASKS_TIMEOUT_GRACE_S: '1',
  TASKS_DISCONNECT_GRACE_S: '1',
  TASKS_PER_HOST_PER_MINUTE: '1000',
  TASKS_PER_OPERATOR_PER_MINUTE: '1000',
  TASK_OUTPUT_MAX_BYTES: '100000',
  TASKS_POLICY_WAIT_MS: '500',
};

beforeAll(async () => {
  ingest = await startIngest(env, FAST);
  adminToken = await operatorAuth.issue('alice', 'admin');
  admin = responseCalls(ingest.address, adminToken);
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  admin.close();
  await ingest.stop();
});

/** A registered host and a bare agent connected for it (its policy reported). */
const hostWithAgent = (address = ingest.address, policy = POLICY_ALL) =>
  hostWithBareAgent(env, cleanups, address, policy);

const stateOf = async (taskId: string) => (await getTask(env.pool, taskId))!.state;

describe('the task channel', () => {
  it('dispatches, stores output, acknowledges the outcome after it is stored, and publishes every step', async () => {
    const bus = busReader(env);
    cleanups.push(() => bus.stop());
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'echo hi'));
    const watch = watchTask(admin, adminToken, task.taskId);
    await until(() => agent.tasks().includes(task.taskId), 10_000, 'the task on the agent');
    expect(agent.requests[0]!.task).toMatchObject({
      $case: 'shellExecute',
      shellExecute: { cmd: 'echo hi' },
    });
    agent.send({ taskId: task.taskId, sequence: 1 });
    agent.stdout(task.taskId, 2, 'hi\n');
    agent.finish(task.taskId, 3);
    await until(() => agent.acks.includes(task.taskId), 10_000, 'the outcome acknowledged');
    // Acknowledged only once durable: the row is final by then.
    expect(await stateOf(task.taskId)).toBe('SUCCEEDED');
    await until(() => watch.ended !== null, 10_000, 'the watch to end');
    expect(watch.text('stdout')).toBe('hi\n');
    expect(watch.states().at(-1)).toBe('TASK_STATE_SUCCEEDED');
    const events = () =>
      bus.entries.flatMap((e) =>
        e.message.type === 'task' && e.message.data.task.task_id === task.taskId
          ? [e.message.data]
          : [],
      );
    await until(() => events().some((e) => e.event === 'finished'), 10_000, 'the finished message');
    expect(events().map((e) => e.event)).toEqual([
      'created',
      'updated',
      'updated',
      'output',
      'finished',
    ]);
    expect(events().find((e) => e.event === 'output')?.output).toMatchObject({
      stream: 'stdout',
      text: 'hi\n',
    });
  });

  it('acknowledges an outcome only once it is stored', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'true'));
    await until(() => agent.tasks().includes(task.taskId));
    // Hold the task's row: the outcome cannot be stored until the test lets go.
    const blocker = await env.pool.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM tasks WHERE task_id = $1 FOR UPDATE', [task.taskId]);
    agent.finish(task.taskId, 1);
    const waiting = async () =>
      (
        await env.pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE OF tasks%'",
        )
      ).rows.length > 0;
    await until(waiting, 10_000, 'the outcome waiting for the row');
    expect(agent.acks).toEqual([]);
    await blocker.query('ROLLBACK');
    blocker.release();
    await until(() => agent.acks.includes(task.taskId), 10_000, 'the acknowledgement');
    expect(await stateOf(task.taskId)).toBe('SUCCEEDED');
  });

  it('stores an outcome whose error holds a NUL (removed) instead of failing on it forever', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'true'));
    await until(() => agent.tasks().includes(task.taskId));
    agent.send({
      taskId: task.taskId,
      sequence: 1,
      isFinal: true,
      status: TaskStatus.TASK_STATUS_FAILED,
      error: 'bad\0thing',
    });
    await until(() => agent.acks.includes(task.taskId), 10_000, 'the acknowledgement');
    expect((await getTask(env.pool, task.taskId))!.error).toBe('badthing');
  });

  it('ignores a duplicate final response (acknowledged again, nothing changes, audited once)', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'true'));
    await until(() => agent.tasks().includes(task.taskId));
    agent.finish(task.taskId, 1);
    await until(() => agent.acks.length === 1);
    agent.finish(task.taskId, 0, TaskStatus.TASK_STATUS_FAILED);
    await until(() => agent.acks.length === 2, 10_000, 'the duplicate acknowledged');
    expect(await stateOf(task.taskId)).toBe('SUCCEEDED');
    const audit = await env.pool.query(
      "SELECT 1 FROM audit_entries WHERE target = $1 AND action = 'task.outcome'",
      [task.taskId],
    );
    expect(audit.rows).toHaveLength(1);
  });

  it('runs one task at a time per host: the next starts when the first ends', async () => {
    const { hostId, agent } = await hostWithAgent();
    const first = await admin.create(shellTask(hostId, 'one'));
    const second = await admin.create(shellTask(hostId, 'two'));
    await until(() => agent.tasks().includes(first.taskId));
    agent.finish(first.taskId, 1);
    await until(() => agent.tasks().includes(second.taskId), 10_000, 'the second task');
    expect(agent.tasks()).toEqual([first.taskId, second.taskId]);
    // The second was sent only after the first had ended.
    const [a, b] = [await getTask(env.pool, first.taskId), await getTask(env.pool, second.taskId)];
    expect(Date.parse(b!.dispatched_at!)).toBeGreaterThanOrEqual(Date.parse(a!.finished_at!));
  });

  it('refuses an action the agent does not enable without sending it', async () => {
    const { hostId, agent } = await hostWithAgent(ingest.address, {
      ...POLICY_ALL,
      enabledActions: ['file_hash'],
    });
    const task = await admin.create(shellTask(hostId, 'id'));
    await until(async () => (await stateOf(task.taskId)) === 'REFUSED', 10_000, 'REFUSED');
    expect((await getTask(env.pool, task.taskId))!.error).toBe(
      "this host's agent does not enable shell_execute",
    );
    expect(agent.tasks()).toEqual([]);
  });

  it('times out a task the agent never finishes, tells the agent to cancel it, and starts the next', async () => {
    const { hostId, agent } = await hostWithAgent();
    const stuck = await admin.create(shellTask(hostId, 'sleep 300', 1));
    const next = await admin.create(shellTask(hostId, 'echo next'));
    await until(() => agent.tasks().includes(stuck.taskId));
    agent.send({ taskId: stuck.taskId, sequence: 1 });
    await until(async () => (await stateOf(stuck.taskId)) === 'TIMED_OUT', 10_000, 'TIMED_OUT');
    await until(() => agent.cancels().includes(stuck.taskId), 10_000, 'the cancel');
    await until(() => agent.tasks().includes(next.taskId), 10_000, 'the next task');
  });

  it('relays an operator cancel to the agent; the task ends CANCELLED when the agent confirms', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'sleep 300'));
    await until(() => agent.tasks().includes(task.taskId));
    agent.send({ taskId: task.taskId, sequence: 1 });
    await until(async () => (await stateOf(task.taskId)) === 'RUNNING');
    const flagged = await admin.cancel({ taskId: task.taskId, reason: 'wrong box' });
    expect(flagged.cancelRequestedBy).toBe('operator:alice');
    await until(() => agent.cancels().includes(task.taskId), 10_000, 'the cancel on the agent');
    expect(agent.requests.at(-1)!.task).toMatchObject({ taskCancel: { reason: 'wrong box' } });
    agent.finish(task.taskId, 2, TaskStatus.TASK_STATUS_CANCELLED);
    await until(async () => (await stateOf(task.taskId)) === 'CANCELLED');
  });

  it('a task for an offline host waits, runs when its agent connects, or expires', async () => {
    const client = connect(ingest.address);
    const reg = await register(client, `offline-${randomUUID().slice(0, 8)}`);
    client.close();
    const waiting = await admin.create(shellTask(reg.hostId, 'echo later'));
    const expiring = await admin.create({
      ...shellTask(reg.hostId, 'echo never'),
      expiresInSeconds: 1,
    });
    await until(async () => (await stateOf(expiring.taskId)) === 'EXPIRED', 10_000, 'EXPIRED');
    expect(await stateOf(waiting.taskId)).toBe('QUEUED');
    const agent = new BareAgent(ingest.address, reg.agentToken).connect();
    cleanups.push(() => agent.close());
    await until(() => agent.tasks().includes(waiting.taskId), 10_000, 'the queued task on connect');
    expect(agent.tasks()).not.toContain(expiring.taskId);
  });

  it('redelivers a sent task on reconnect; after the grace period without the agent it fails', async () => {
    const { hostId, token, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'sleep 1'));
    await until(() => agent.tasks().includes(task.taskId));
    agent.disconnect();
    const again = new BareAgent(ingest.address, token).connect();
    cleanups.push(() => again.close());
    await until(() => again.tasks().includes(task.taskId), 10_000, 'the redelivery');
    expect((await getTask(env.pool, task.taskId))!.dispatch_count).toBe(2);
    again.disconnect();
    await until(
      async () => (await stateOf(task.taskId)) === 'FAILED',
      15_000,
      'FAILED after the grace',
    );
    expect((await getTask(env.pool, task.taskId))!.error).toBe('agent disconnected');
  });

  it('caps an output flood at TASK_OUTPUT_MAX_BYTES, marked truncated', async () => {
    const { hostId, agent } = await hostWithAgent();
    const task = await admin.create(shellTask(hostId, 'yes'));
    await until(() => agent.tasks().includes(task.taskId));
    const chunk = 'y\n'.repeat(16 * 1024);
    for (let seq = 1; seq <= 20; seq++) agent.stdout(task.taskId, seq, chunk);
    agent.finish(task.taskId, 21);
    await until(() => agent.acks.includes(task.taskId), 20_000);
    const stored = (await getTask(env.pool, task.taskId))!;
    expect(stored).toMatchObject({ stdout_bytes: 100_000, truncated: true, state: 'SUCCEEDED' });
    const { rows } = await env.pool.query(
      'SELECT sum(octet_length(data))::int AS n FROM task_output WHERE task_id = $1',
      [task.taskId],
    );
    expect(rows[0].n).toBe(100_000);
  });

  it('refuses a task stream with a bad agent token, and ends one that reports no policy', async () => {
    const bad = new BareAgent(ingest.address, 'twa_not-a-token').connect();
    cleanups.push(() => bad.close());
    await until(() => bad.ended !== null);
    expect(bad.ended!.code).toBe(status.UNAUTHENTICATED);
    const { hostId, token } = await hostWithAgent();
    const silent = new BareAgent(ingest.address, token).connect(null);
    cleanups.push(() => silent.close());
    await until(() => silent.ended !== null, 10_000, 'the silent stream ended');
    expect(silent.ended!.code).toBe(status.FAILED_PRECONDITION);
    // It took the channel from the first stream but is given nothing: no policy, no tasks.
    const task = await admin.create(shellTask(hostId, 'true'));
    expect(silent.tasks()).not.toContain(task.taskId);
  });
});

describe('two ingest instances', () => {
  it('never send one task twice: only the stream holding the host channel gets it', async () => {
    const other = await startIngest(env, FAST);
    cleanups.push(() => other.stop());
    const { hostId, token, agent } = await hostWithAgent();
    // The same agent opens a second stream on the other instance: it takes the channel over.
    const second = new BareAgent(other.address, token).connect({
      ...POLICY_ALL,
      maxConcurrentTasks: 16,
    });
    cleanups.push(() => second.close());
    await until(
      async () =>
        (
          await env.pool.query(
            'SELECT 1 FROM host_task_channels WHERE host_id = $1 AND instance_id = $2',
            [hostId, other.server.instanceId],
          )
        ).rows.length > 0,
    );
    const created = [];
    for (let i = 0; i < 10; i++)
      created.push((await admin.create(shellTask(hostId, `echo ${i}`))).taskId);
    // One at a time: finish each as it arrives, wherever it arrives.
    for (const id of created) {
      await until(
        () => second.tasks().includes(id) || agent.tasks().includes(id),
        10_000,
        `task ${id}`,
      );
      (second.tasks().includes(id) ? second : agent).finish(id, 1);
    }
    const all = [...agent.tasks(), ...second.tasks()];
    expect(new Set(all).size).toBe(all.length);
    expect(second.tasks().sort()).toEqual([...created].sort());
    expect(errorCode(await admin.get({ taskId: 'nope' }).catch((e) => e))).toBe(
      status.INVALID_ARGUMENT,
    );
    const last = created[9]!;
    const stateOfLast = async () => TaskState[(await admin.get({ taskId: last })).state];
    await until(
      async () => (await stateOfLast()) === 'TASK_STATE_SUCCEEDED',
      10_000,
      'the last task done',
    );
  });
});
