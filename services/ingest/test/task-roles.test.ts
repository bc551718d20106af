// Who may do what with tasks, and what the audit log keeps: ResponseService with real operator
// tokens against real PostgreSQL (tasks wait for a host with no agent connected).
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { verifyAuditChain } from '@tripwire/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import {
  connect,
  errorCode,
  type RunningIngest,
  register,
  startIngest,
  useEnvironment,
} from './ingest-harness.js';
import { type ResponseCalls, responseCalls, shellTask, TaskState } from './task-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let hostId: string;
const as: Record<'viewer' | 'responder' | 'admin' | 'admin2', ResponseCalls> = {} as never;

beforeAll(async () => {
  ingest = await startIngest(env, {
    OPERATOR_JWT_SECRET,
    TASKS_SHELL_APPROVAL: 'true',
    TASKS_PER_OPERATOR_PER_MINUTE: '5',
    TASKS_PER_HOST_PER_MINUTE: '1000',
  });
  const client = connect(ingest.address);
  hostId = (await register(client, `roles-${randomUUID().slice(0, 8)}`)).hostId;
  client.close();
  as.viewer = responseCalls(ingest.address, await operatorAuth.issue('victor', 'viewer'));
  as.responder = responseCalls(ingest.address, await operatorAuth.issue('rita', 'responder'));
  as.admin = responseCalls(ingest.address, await operatorAuth.issue('alice', 'admin'));
  as.admin2 = responseCalls(ingest.address, await operatorAuth.issue('bob', 'admin'));
});
afterAll(async () => {
  for (const c of Object.values(as)) c.close();
  await ingest.stop();
});

const fileHash = (path: string) => ({
  hostId,
  action: { $case: 'fileHash' as const, fileHash: { path } },
});
const codeOf = (p: Promise<unknown>) => p.then(() => status.OK, errorCode);
const auditOf = async (taskId: string) =>
  (
    await env.pool.query(
      'SELECT actor, action, details FROM audit_entries WHERE target = $1 ORDER BY seq',
      [taskId],
    )
  ).rows;

describe('ResponseService roles', () => {
  it('viewers read but may not create; responders run non-shell actions only; admins run shell', async () => {
    expect(await codeOf(as.viewer.create(fileHash('/etc/passwd')))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(as.responder.create(shellTask(hostId, 'id')))).toBe(
      status.PERMISSION_DENIED,
    );
    const hash = await as.responder.create(fileHash('/etc/passwd'));
    expect(TaskState[hash.state]).toBe('TASK_STATE_QUEUED');
    expect(hash.createdBy).toBe('operator:rita');
    expect((await as.viewer.get({ taskId: hash.taskId })).taskId).toBe(hash.taskId);
    expect((await as.viewer.list({ hostId })).map((t) => t.taskId)).toContain(hash.taskId);
    expect(await codeOf(as.viewer.cancel({ taskId: hash.taskId }))).toBe(status.PERMISSION_DENIED);
    const shell = await as.admin.create(shellTask(hostId, 'id'));
    expect(await codeOf(as.responder.cancel({ taskId: shell.taskId }))).toBe(
      status.PERMISSION_DENIED,
    );
    expect(TaskState[(await as.responder.cancel({ taskId: hash.taskId })).state]).toBe(
      'TASK_STATE_CANCELLED',
    );
  });

  it('a shell task waits for a second admin: its creator and a responder cannot approve it', async () => {
    const shell = await as.admin.create(shellTask(hostId, 'uname -a'));
    expect(TaskState[shell.state]).toBe('TASK_STATE_AWAITING_APPROVAL');
    expect(await codeOf(as.admin.approve({ taskId: shell.taskId }))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(as.responder.approve({ taskId: shell.taskId }))).toBe(
      status.PERMISSION_DENIED,
    );
    const approved = await as.admin2.approve({ taskId: shell.taskId });
    expect(approved).toMatchObject({
      state: TaskState.TASK_STATE_QUEUED,
      approvedBy: 'operator:bob',
    });
    expect(await codeOf(as.admin2.approve({ taskId: shell.taskId }))).toBe(
      status.FAILED_PRECONDITION,
    );
    await as.admin2.cancel({ taskId: shell.taskId, reason: 'not needed' });
    expect((await auditOf(shell.taskId)).map((a) => [a.actor, a.action])).toEqual([
      ['operator:alice', 'task.create'],
      ['operator:bob', 'task.approve'],
      ['operator:bob', 'task.cancel'],
    ]);
    const [create] = await auditOf(shell.taskId);
    expect(create.details).toMatchObject({
      task_action: 'shell_execute',
      parameters: { cmd: 'uname -a' },
      state: 'AWAITING_APPROVAL',
    });
    expect((await verifyAuditChain(env.pool)).ok).toBe(true);
  });

  it('answers bad input with INVALID_ARGUMENT naming the field, and stores traversal strings inert', async () => {
    const bad = async (req: Parameters<ResponseCalls['create']>[0]) => {
      const err = await as.admin.create(req).catch((e) => e);
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      return err.details as string;
    };
    expect(await bad({ hostId })).toMatch(/^action:/);
    expect(await bad(fileHash('relative/path'))).toMatch(
      /^parameters\.path: must be an absolute path/,
    );
    expect(await bad(fileHash(`/${'a'.repeat(10_000)}`))).toMatch(
      /^parameters\.path: is 10001 bytes/,
    );
    expect(await bad({ ...fileHash('/x'), hostId: 'not-a-uuid' })).toMatch(/^host_id/);
    expect(await bad({ ...fileHash('/x'), timeoutSeconds: 999_999 })).toMatch(/^timeout_seconds/);
    expect(
      await bad({
        hostId,
        action: { $case: 'killProcess', killProcess: { pid: 1234, startTicks: 0, signal: 0 } },
      }),
    ).toMatch(/^parameters\.start_ticks/);
    const huge = { ...shellTask(hostId, 'x'.repeat(20_000)) };
    expect(await bad(huge)).toMatch(/^parameters\.cmd: is 20000 bytes/);
    const inert = await as.admin2.create({
      hostId,
      action: {
        $case: 'shellExecute',
        shellExecute: {
          cmd: 'cat',
          args: ['../../etc/shadow', '$(reboot)'],
          env: [],
          workingDir: '',
        },
      },
    });
    expect(JSON.parse(inert.parametersJson)).toEqual({
      cmd: 'cat',
      args: ['../../etc/shadow', '$(reboot)'],
    });
    expect(await codeOf(as.admin.get({ taskId: randomUUID() }))).toBe(status.NOT_FOUND);
  });

  it('refuses RESOURCE_EXHAUSTED past the per-operator rate', async () => {
    const calls = responseCalls(ingest.address, await operatorAuth.issue('speedy', 'responder'));
    for (let i = 0; i < 5; i++) await calls.create(fileHash('/etc/hosts'));
    const err = await calls.create(fileHash('/etc/hosts')).catch((e) => e);
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/in the last minute \(at most 5\)/);
    calls.close();
  });
});
