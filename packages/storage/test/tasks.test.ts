import { randomUUID } from 'node:crypto';
import { TASK_STATES } from '@tripwire/wire';
import { describe, expect, it } from 'vitest';
import { createApiToken } from '../src/api-tokens.js';
import { verifyAuditChain } from '../src/audit-log.js';
import { closeTaskChannel, openTaskChannel } from '../src/task-channels.js';
import {
  claimTasksForHost,
  refuseTasksByPolicy,
  takeOverActiveTasks,
} from '../src/task-dispatch.js';
import { listTaskOutput, readTaskFile } from '../src/task-output.js';
import { type AgentTaskResponse, recordTaskResponse } from '../src/task-responses.js';
import { InvalidTaskTransitionError, TASK_TRANSITIONS } from '../src/task-states.js';
import {
  approveTask,
  createTask,
  DEFAULT_TASK_LIMITS,
  getTask,
  listTasks,
  requestTaskCancel,
  TaskRateLimitError,
  TaskSelfApprovalError,
  type TaskValidationError,
} from '../src/task-store.js';
import {
  deleteFinishedTasks,
  expireTasks,
  failDisconnectedTasks,
  timeOutTasks,
} from '../src/task-sweeps.js';
import { useTestDatabase } from './test-database.js';
import { newHost } from './test-rows.js';

const t = useTestDatabase();
const caps = { fetchMaxBytes: 10 * 1024 * 1024 };

const auditOf = async (taskId: string) =>
  (
    await t.pool.query<{ actor: string; action: string; details: Record<string, unknown> }>(
      'SELECT actor, action, details FROM audit_entries WHERE target = $1 ORDER BY seq',
      [taskId],
    )
  ).rows;

/** A host whose task channel is held by a fresh stream. */
async function connectedHost() {
  const host = await newHost(t.pool);
  const streamId = randomUUID();
  await openTaskChannel(t.pool, host.hostId, streamId, 'instance-a');
  return { hostId: host.hostId, streamId };
}

const response = (
  hostId: string,
  taskId: string,
  over: Partial<AgentTaskResponse>,
): AgentTaskResponse => ({
  hostId,
  taskId,
  status: 'RUNNING',
  isFinal: false,
  sequence: 1,
  output: [],
  ...over,
});

describe('task store', () => {
  it('creates a queued task, audited with actor, host, action and parameters in the same transaction', async () => {
    const { hostId } = await connectedHost();
    const task = await createTask(
      t.pool,
      { hostId, action: 'file_hash', parameters: { path: '/etc/passwd' } },
      'operator:alice',
    );
    expect(task).toMatchObject({
      state: 'QUEUED',
      action: 'file_hash',
      created_by: 'operator:alice',
      timeout_s: 60,
    });
    expect(await auditOf(task.task_id)).toEqual([
      expect.objectContaining({
        actor: 'operator:alice',
        action: 'task.create',
        details: expect.objectContaining({
          task_action: 'file_hash',
          parameters: { path: '/etc/passwd' },
        }),
      }),
    ]);
    expect((await verifyAuditChain(t.pool)).ok).toBe(true);
  });

  it('refuses bad input naming the field, and stores traversal strings inert', async () => {
    const { hostId } = await connectedHost();
    const bad = [
      [{ hostId, action: 'rm_rf', parameters: {} }, 'action'],
      [{ hostId, action: 'file_hash', parameters: { path: 'etc/passwd' } }, 'parameters.path'],
      [{ hostId, action: 'file_hash', parameters: { path: '/a\0b' } }, 'parameters.path'],
      [
        { hostId, action: 'file_hash', parameters: { path: `/${'a'.repeat(5000)}` } },
        'parameters.path',
      ],
      [{ hostId, action: 'file_hash', parameters: { path: '/x', extra: 1 } }, 'parameters.extra'],
      [
        { hostId, action: 'kill_process', parameters: { pid: 1, start_ticks: '5' } },
        'parameters.pid',
      ],
      [{ hostId, action: 'kill_process', parameters: { pid: 99 } }, 'parameters.start_ticks'],
      [
        { hostId, action: 'shell_execute', parameters: { cmd: 'x', args: Array(300).fill('a') } },
        'parameters.args',
      ],
      [{ hostId, action: 'shell_execute', parameters: { cmd: 'x'.repeat(300_000) } }, 'parameters'],
      [{ hostId, action: 'process_list', timeoutS: 999_999 }, 'timeout_seconds'],
      [{ hostId: randomUUID(), action: 'process_list' }, 'host_id'],
    ] as const;
    for (const [input, field] of bad) {
      const err = await createTask(t.pool, input, 'operator:alice').catch((e) => e);
      expect(err, field).toBeInstanceOf(Error);
      expect((err as TaskValidationError).field, JSON.stringify(input).slice(0, 80)).toBe(field);
    }
    const traversal = await createTask(
      t.pool,
      {
        hostId,
        action: 'shell_execute',
        parameters: { cmd: 'cat', args: ['../../../etc/shadow', '$(rm -rf /)'] },
      },
      'operator:alice',
    );
    expect((await getTask(t.pool, traversal.task_id))?.parameters).toEqual({
      cmd: 'cat',
      args: ['../../../etc/shadow', '$(rm -rf /)'],
    });
  });

  it('rate limits per operator and per host queue', async () => {
    const { hostId } = await connectedHost();
    const limits = { ...DEFAULT_TASK_LIMITS, perOperatorPerMinute: 3, maxQueuedPerHost: 100 };
    for (let i = 0; i < 3; i++)
      await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:rl', limits);
    const err = await createTask(
      t.pool,
      { hostId, action: 'process_list' },
      'operator:rl',
      limits,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(TaskRateLimitError);
    expect(err.scope).toBe('operator');
    const queue = { ...DEFAULT_TASK_LIMITS, maxQueuedPerHost: 3 };
    const err2 = await createTask(
      t.pool,
      { hostId, action: 'process_list' },
      'operator:other',
      queue,
    ).catch((e) => e);
    expect(err2.scope).toBe('host_queue');
  });

  it('claims at most N per host, in order, once, even when claims race', async () => {
    const { hostId, streamId } = await connectedHost();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (await createTask(t.pool, { hostId, action: 'process_list' }, `operator:c${i}`)).task_id,
      );
    const claims = await Promise.all(
      Array.from({ length: 6 }, () =>
        claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 2 }),
      ),
    );
    const claimed = claims.flat().map((r) => r.task_id);
    expect(claimed.sort()).toEqual(ids.slice(0, 2).sort());
    // A stream that does not hold the channel gets nothing.
    await recordTaskResponse(
      t.pool,
      response(hostId, ids[0]!, { status: 'SUCCEEDED', isFinal: true }),
      caps,
    );
    expect(
      await claimTasksForHost(t.pool, { hostId, streamId: randomUUID(), maxRunning: 2 }),
    ).toEqual([]);
    expect(
      (await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 2 })).map((r) => r.task_id),
    ).toEqual([ids[2]]);
  });

  it('stores output once per sequence, caps it with truncation marked, and ignores a duplicate outcome', async () => {
    const { hostId, streamId } = await connectedHost();
    const limits = { ...DEFAULT_TASK_LIMITS, maxOutputBytes: 10 };
    const task = await createTask(
      t.pool,
      { hostId, action: 'shell_execute', parameters: { cmd: 'x' } },
      'operator:o',
      limits,
    );
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    const started = await recordTaskResponse(t.pool, response(hostId, task.task_id, {}), caps);
    expect(started).toMatchObject({ started: true, task: { state: 'RUNNING' } });
    const chunk = response(hostId, task.task_id, {
      sequence: 2,
      output: [{ stream: 'stdout', data: Buffer.from('héllo') }],
    });
    expect((await recordTaskResponse(t.pool, chunk, caps)).outputs).toHaveLength(1);
    expect((await recordTaskResponse(t.pool, chunk, caps)).outputs).toHaveLength(0);
    const flood = response(hostId, task.task_id, {
      sequence: 3,
      output: [{ stream: 'stderr', data: Buffer.from('ééééééé') }],
    });
    const capped = await recordTaskResponse(t.pool, flood, caps);
    // 6 bytes used by "héllo", 4 left: two é, never half of one.
    expect(capped.outputs[0]?.text).toBe('éé');
    expect(capped.task?.truncated).toBe(true);
    const final = response(hostId, task.task_id, {
      sequence: 4,
      status: 'SUCCEEDED',
      isFinal: true,
      exitCode: 0,
    });
    expect(await recordTaskResponse(t.pool, final, caps)).toMatchObject({
      finished: true,
      task: { state: 'SUCCEEDED', exit_code: 0 },
    });
    const again = await recordTaskResponse(
      t.pool,
      { ...final, status: 'FAILED', sequence: 0 },
      caps,
    );
    expect(again).toMatchObject({ duplicate: true, finished: false, task: { state: 'SUCCEEDED' } });
    expect((await listTaskOutput(t.pool, task.task_id)).map((o) => o.text)).toEqual([
      'héllo',
      'éé',
    ]);
    expect((await auditOf(task.task_id)).map((a) => a.action)).toEqual([
      'task.create',
      'task.outcome',
    ]);
  });

  it('keeps file_fetch content, capped', async () => {
    const { hostId, streamId } = await connectedHost();
    const task = await createTask(
      t.pool,
      { hostId, action: 'file_fetch', parameters: { path: '/etc/hosts' } },
      'operator:o',
    );
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    const bytes = Buffer.from([0, 1, 2, 255, 254, 253]);
    await recordTaskResponse(
      t.pool,
      response(hostId, task.task_id, { sequence: 2, output: [{ stream: 'file', data: bytes }] }),
      { fetchMaxBytes: 4 },
    );
    expect(await readTaskFile(t.pool, task.task_id)).toEqual(bytes.subarray(0, 4));
  });

  it('approval needs a second person; cancel ends a waiting task at once and flags a sent one', async () => {
    const { hostId, streamId } = await connectedHost();
    const shell = await createTask(
      t.pool,
      { hostId, action: 'shell_execute', parameters: { cmd: 'id' }, requireApproval: true },
      'operator:alice',
    );
    expect(shell.state).toBe('AWAITING_APPROVAL');
    await expect(approveTask(t.pool, shell.task_id, 'operator:alice')).rejects.toBeInstanceOf(
      TaskSelfApprovalError,
    );
    expect(await approveTask(t.pool, shell.task_id, 'operator:bob')).toMatchObject({
      state: 'QUEUED',
      approved_by: 'operator:bob',
    });
    await expect(approveTask(t.pool, shell.task_id, 'operator:carol')).rejects.toBeInstanceOf(
      InvalidTaskTransitionError,
    );
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    const flagged = await requestTaskCancel(t.pool, shell.task_id, 'operator:carol', 'wrong host');
    expect(flagged).toMatchObject({ state: 'DISPATCHED', cancel_requested_by: 'operator:carol' });
    const waiting = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:alice');
    expect(await requestTaskCancel(t.pool, waiting.task_id, 'operator:bob')).toMatchObject({
      state: 'CANCELLED',
    });
    await expect(requestTaskCancel(t.pool, waiting.task_id, 'operator:bob')).rejects.toBeInstanceOf(
      InvalidTaskTransitionError,
    );
    expect((await auditOf(shell.task_id)).map((a) => a.action)).toEqual([
      'task.create',
      'task.approve',
      'task.cancel',
    ]);
  });

  it('an admin never approves their own shell task through an API token, nor a token its maker', async () => {
    const { hostId } = await connectedHost();
    const shellBy = (actor: string) =>
      createTask(
        t.pool,
        { hostId, action: 'shell_execute', parameters: { cmd: 'id' }, requireApproval: true },
        actor,
      );
    const name = `alice-ci-${randomUUID()}`;
    await createApiToken(t.pool, {
      name,
      role: 'admin',
      createdBy: 'operator:alice',
      expiresInS: 3600,
    });
    // alice's own task, approved with the admin token alice minted: refused.
    const byAlice = await shellBy('operator:alice');
    await expect(approveTask(t.pool, byAlice.task_id, `operator:token:${name}`)).rejects.toThrow(
      TaskSelfApprovalError,
    );
    // A task her token made, approved by alice in person: refused too.
    const byToken = await shellBy(`operator:token:${name}`);
    await expect(approveTask(t.pool, byToken.task_id, 'operator:alice')).rejects.toThrow(
      TaskSelfApprovalError,
    );
    // Any token, even another person's, is not a second person's look.
    const byBob = await shellBy('operator:bob');
    await expect(approveTask(t.pool, byBob.task_id, `operator:token:${name}`)).rejects.toThrow(
      /API token cannot approve/,
    );
    // A second person approves either.
    expect(await approveTask(t.pool, byToken.task_id, 'operator:bob')).toMatchObject({
      state: 'QUEUED',
    });
    expect((await getTask(t.pool, byAlice.task_id))?.state).toBe('AWAITING_APPROVAL');
  });

  it("ignores an agent's responses for a task it was never sent (waiting for approval, queued)", async () => {
    const { hostId } = await connectedHost();
    const awaiting = await createTask(
      t.pool,
      { hostId, action: 'shell_execute', parameters: { cmd: 'id' }, requireApproval: true },
      'operator:alice',
    );
    const queued = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:alice');
    for (const task of [awaiting, queued]) {
      const chunk = response(hostId, task.task_id, {
        output: [{ stream: 'stdout', data: Buffer.from('uid=0(root) forged') }],
      });
      const final = response(hostId, task.task_id, {
        status: 'SUCCEEDED',
        isFinal: true,
        sequence: 2,
      });
      expect((await recordTaskResponse(t.pool, chunk, caps)).task).toBeNull();
      expect((await recordTaskResponse(t.pool, final, caps)).task).toBeNull();
      expect((await getTask(t.pool, task.task_id))?.state).toBe(task.state);
      expect(await listTaskOutput(t.pool, task.task_id, 0, 10)).toEqual([]);
      expect((await auditOf(task.task_id)).map((a) => a.action)).toEqual(['task.create']);
    }
  });

  it('stores the outcome of a response whose sequence is past PostgreSQL integers (the wire is uint32)', async () => {
    const { hostId, streamId } = await connectedHost();
    const task = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:alice');
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    const final = response(hostId, task.task_id, {
      status: 'SUCCEEDED',
      isFinal: true,
      sequence: 2 ** 32 - 1,
      output: [{ stream: 'listing', data: Buffer.from('[]') }],
    });
    expect((await recordTaskResponse(t.pool, final, caps)).finished).toBe(true);
    expect((await getTask(t.pool, task.task_id))?.state).toBe('SUCCEEDED');
  });

  it('refuses by policy, expires, times out and fails disconnected tasks, each audited', async () => {
    const { hostId, streamId } = await connectedHost();
    const shell = await createTask(
      t.pool,
      { hostId, action: 'shell_execute', parameters: { cmd: 'id' } },
      'operator:o',
    );
    const hash = await createTask(
      t.pool,
      { hostId, action: 'file_hash', parameters: { path: '/x' } },
      'operator:o',
    );
    const refused = await refuseTasksByPolicy(t.pool, hostId, {
      enabledActions: ['file_hash'],
      killSwitch: false,
    });
    expect(refused.map((r) => [r.task_id, r.state])).toEqual([[shell.task_id, 'REFUSED']]);
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    await t.pool.query(
      "UPDATE tasks SET dispatched_at = now() - interval '1 hour' WHERE task_id = $1",
      [hash.task_id],
    );
    expect((await timeOutTasks(t.pool, 5)).map((x) => x.task_id)).toContain(hash.task_id);

    const old = await createTask(
      t.pool,
      { hostId, action: 'process_list', expiresInS: 1 },
      'operator:o',
    );
    await t.pool.query(
      "UPDATE tasks SET expires_at = now() - interval '1 second' WHERE task_id = $1",
      [old.task_id],
    );
    expect(await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 })).toEqual([]);
    expect((await expireTasks(t.pool)).map((x) => x.task_id)).toContain(old.task_id);

    const lost = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:o');
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    await closeTaskChannel(t.pool, hostId, streamId);
    expect((await failDisconnectedTasks(t.pool, 60, 60)).map((x) => x.task_id)).not.toContain(
      lost.task_id,
    );
    await t.pool.query(
      "UPDATE host_task_channels SET disconnected_at = now() - interval '2 minutes' WHERE host_id = $1",
      [hostId],
    );
    await t.pool.query(
      "UPDATE tasks SET dispatched_at = now() - interval '2 minutes' WHERE task_id = $1",
      [lost.task_id],
    );
    const failed = await failDisconnectedTasks(t.pool, 60, 60);
    expect(failed.find((x) => x.task_id === lost.task_id)).toMatchObject({
      state: 'FAILED',
      error: 'agent disconnected',
    });
    for (const id of [shell.task_id, hash.task_id, old.task_id, lost.task_id])
      expect((await auditOf(id)).map((a) => a.action)).toEqual(['task.create', 'task.outcome']);
  });

  it('redelivers sent tasks to the stream that took the channel over', async () => {
    const { hostId, streamId } = await connectedHost();
    const task = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:o');
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    const next = randomUUID();
    await openTaskChannel(t.pool, hostId, next, 'instance-b');
    expect(await takeOverActiveTasks(t.pool, hostId, streamId)).toEqual([]);
    const again = await takeOverActiveTasks(t.pool, hostId, next);
    expect(again.map((r) => [r.task_id, r.dispatch_count])).toEqual([[task.task_id, 2]]);
  });

  it('lists newest first with keyset paging and filters', async () => {
    const { hostId } = await connectedHost();
    for (let i = 0; i < 5; i++)
      await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:p');
    const first = await listTasks(t.pool, { hostId, limit: 3 });
    const second = await listTasks(t.pool, { hostId, limit: 3, cursor: first.next_cursor });
    expect(first.tasks).toHaveLength(3);
    expect(second.tasks).toHaveLength(2);
    expect(second.next_cursor).toBeNull();
    expect(new Set([...first.tasks, ...second.tasks].map((x) => x.task_id)).size).toBe(5);
    expect((await listTasks(t.pool, { hostId, states: ['CANCELLED'] })).tasks).toEqual([]);
  });

  it('retention deletes finished tasks older than the cutoff with their output, and keeps the rest', async () => {
    const { hostId, streamId } = await connectedHost();
    const old = await createTask(
      t.pool,
      { hostId, action: 'shell_execute', parameters: { cmd: 'x' } },
      'operator:r',
    );
    await claimTasksForHost(t.pool, { hostId, streamId, maxRunning: 1 });
    await recordTaskResponse(
      t.pool,
      response(hostId, old.task_id, { output: [{ stream: 'stdout', data: Buffer.from('x') }] }),
      caps,
    );
    await recordTaskResponse(
      t.pool,
      response(hostId, old.task_id, { sequence: 2, status: 'SUCCEEDED', isFinal: true }),
      caps,
    );
    const waiting = await createTask(t.pool, { hostId, action: 'process_list' }, 'operator:r');
    await t.pool.query(
      "UPDATE tasks SET finished_at = now() - interval '100 days' WHERE task_id = $1",
      [old.task_id],
    );
    expect(await deleteFinishedTasks(t.pool, new Date(Date.now() - 90 * 86_400_000))).toBe(1);
    expect(await getTask(t.pool, old.task_id)).toBeNull();
    expect(await listTaskOutput(t.pool, old.task_id)).toEqual([]);
    expect(await getTask(t.pool, waiting.task_id)).not.toBeNull();
  });

  it('defines a transition list for every state, finals having none', () => {
    for (const s of TASK_STATES) expect(TASK_TRANSITIONS[s]).toBeDefined();
    expect(TASK_TRANSITIONS.SUCCEEDED).toEqual([]);
  });
});
