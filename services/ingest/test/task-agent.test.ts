// Response actions end to end with the real tripwire-agent (its own process, its real
// executor) enrolled with a real ingest: operators create, watch and cancel through
// ResponseService; the bus carries every change; the agent's crash is survived.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTask } from '@tripwire/storage';
import type { ServiceProcess } from '@tripwire/test-fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATOR_JWT_SECRET, operatorAuth } from './incident-client.js';
import { busReader, type RunningIngest, startIngest, useEnvironment } from './ingest-harness.js';
import {
  type ResponseCalls,
  realAgent,
  responseCalls,
  shellTask,
  TaskState,
  taskChannelReady,
  tempDir,
  until,
  watchTask,
} from './task-harness.js';

const env = useEnvironment();
let ingest: RunningIngest;
let admin: ResponseCalls;
let adminToken: string;
let agent: ServiceProcess;
let stateDir: string;
/** The one folder the agent's path allow file lists. */
let evidenceDir: string;
let pathAllowFile: string;
let hostId: string;
const hostname = `agent-${process.pid}`;
const pids: number[] = [];

async function startAgent(): Promise<void> {
  agent = realAgent(ingest.address, stateDir, hostname, 'shell_execute,file_hash,file_fetch', [
    '--task-path-allow-file',
    pathAllowFile,
  ]);
  await until(
    async () =>
      (await env.pool.query('SELECT 1 FROM hosts WHERE hostname = $1', [hostname])).rows.length > 0,
    60_000,
    'the agent enrolled',
  );
  hostId = (await env.pool.query('SELECT host_id FROM hosts WHERE hostname = $1', [hostname]))
    .rows[0].host_id;
  await taskChannelReady(env.pool, hostId);
}

beforeAll(async () => {
  ingest = await startIngest(env, { OPERATOR_JWT_SECRET, TASKS_SWEEP_MS: '200' });
  adminToken = await operatorAuth.issue('alice', 'admin');
  admin = responseCalls(ingest.address, adminToken);
  stateDir = tempDir('agent-state');
  evidenceDir = tempDir('evidence');
  pathAllowFile = join(tempDir('agent-config'), 'paths');
  writeFileSync(pathAllowFile, `${evidenceDir}\n`, { mode: 0o644 });
  await startAgent();
}, 90_000);
afterAll(async () => {
  await agent?.kill9();
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  admin.close();
  await ingest.stop();
});

const stateOf = async (taskId: string) => (await getTask(env.pool, taskId))!.state;
const alive = (pid: number) => existsSync(`/proc/${pid}`);

describe('response actions with the real agent', () => {
  it('streams a shell task live to WatchTask and the bus, then its outcome with the exit code', async () => {
    const bus = busReader(env);
    const go = join(stateDir, 'go');
    const task = await admin.create(
      shellTask(
        hostId,
        `echo first; while [ ! -e ${go} ]; do sleep 0.05; done; echo second >&2; exit 3`,
      ),
    );
    const watch = watchTask(admin, adminToken, task.taskId);
    // The first line arrives while the process still waits for the file: output is live.
    await until(() => watch.text('stdout') === 'first\n', 30_000, 'the first line');
    expect(watch.states()).toContain('TASK_STATE_RUNNING');
    writeFileSync(go, '');
    await until(() => watch.ended !== null, 30_000, 'the watch to end');
    expect(watch.text('stderr')).toBe('second\n');
    const last = watch.tasks.at(-1)!;
    // The agent ends a command that exits non-zero FAILED, with its exit code.
    expect(last).toMatchObject({ state: TaskState.TASK_STATE_FAILED, exitCode: 3 });
    const kinds = () =>
      bus.entries.flatMap((e) =>
        e.message.type === 'task' && e.message.data.task.task_id === task.taskId
          ? [e.message.data.event]
          : [],
      );
    await until(() => kinds().includes('finished'), 10_000, 'the finished message');
    expect(kinds()[0]).toBe('created');
    expect(kinds()).toContain('output');
    await bus.stop();
  });

  it('hashes a file and records the result', async () => {
    const path = join(evidenceDir, 'evidence.bin');
    writeFileSync(path, 'suspicious payload');
    const task = await admin.create({ hostId, action: { $case: 'fileHash', fileHash: { path } } });
    await until(async () => (await stateOf(task.taskId)) === 'SUCCEEDED', 30_000, 'the hash');
    const { result } = (await getTask(env.pool, task.taskId))!;
    expect(result).toMatchObject({
      sha256: createHash('sha256').update('suspicious payload').digest('hex'),
      size: 18,
    });
  });

  it('refuses /etc/shadow and its own credentials outside the path allow-list, no byte stored', async () => {
    const refused = Number(
      /tripwire_ingest_tasks_finished_total\{state="REFUSED"\} (\d+)/.exec(
        await (await fetch(`${ingest.httpUrl}/metrics`)).text(),
      )?.[1] ?? 0,
    );
    const asked = [
      ['/etc/shadow', /outside the folders this host allows/],
      [join(stateDir, 'credentials.json'), /own state folder/],
    ] as const;
    for (const [path, reason] of asked) {
      const task = await admin.create({
        hostId,
        action: { $case: 'fileFetch', fileFetch: { path, maxBytes: 0 } },
      });
      await until(async () => (await stateOf(task.taskId)) === 'REFUSED', 30_000, 'REFUSED');
      const row = (await getTask(env.pool, task.taskId))!;
      expect(row.error).toMatch(reason);
      const { rows } = await env.pool.query('SELECT 1 FROM task_output WHERE task_id = $1', [
        task.taskId,
      ]);
      expect(rows).toEqual([]);
    }
    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(
      Number(/tripwire_ingest_tasks_finished_total\{state="REFUSED"\} (\d+)/.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(refused + 2);
    // A file in the listed folder, on the same agent in the same run, is fetched.
    writeFileSync(join(evidenceDir, 'note.txt'), 'allowed');
    const ok = await admin.create({
      hostId,
      action: {
        $case: 'fileFetch',
        fileFetch: { path: join(evidenceDir, 'note.txt'), maxBytes: 0 },
      },
    });
    await until(async () => (await stateOf(ok.taskId)) === 'SUCCEEDED', 30_000, 'the fetch');
  });

  it('refuses an action the agent does not enable, without sending it', async () => {
    const task = await admin.create({ hostId, action: { $case: 'processList', processList: {} } });
    await until(async () => (await stateOf(task.taskId)) === 'REFUSED', 30_000, 'REFUSED');
    expect((await getTask(env.pool, task.taskId))!.dispatch_count).toBe(0);
  });

  it('cancels a running shell task: CANCELLED, and its process group is gone', async () => {
    const task = await admin.create(shellTask(hostId, 'sleep 300 & echo $!; wait'));
    const watch = watchTask(admin, adminToken, task.taskId);
    await until(() => /^\d+\n/.test(watch.text('stdout')), 30_000, 'the background pid');
    const pid = Number(watch.text('stdout').trim());
    pids.push(pid);
    expect(alive(pid)).toBe(true);
    await admin.cancel({ taskId: task.taskId, reason: 'enough' });
    await until(async () => (await stateOf(task.taskId)) === 'CANCELLED', 30_000, 'CANCELLED');
    await until(() => !alive(pid), 10_000, 'the grandchild gone');
  });

  it('after kill -9 mid-task the agent reports it on restart, and a task queued meanwhile runs', async () => {
    const counter = join(stateDir, 'runs');
    const running = await admin.create(shellTask(hostId, `echo run >> ${counter}; exec sleep 300`));
    await until(async () => (await stateOf(running.taskId)) === 'RUNNING', 30_000, 'RUNNING');
    await until(() => existsSync(counter), 10_000, 'the command started');
    await agent.kill9();
    const queued = await admin.create(shellTask(hostId, 'echo after restart'));
    expect(await stateOf(queued.taskId)).toBe('QUEUED');
    await startAgent();
    await until(
      async () => (await stateOf(running.taskId)) === 'FAILED',
      60_000,
      'the outcome after restart',
    );
    expect((await getTask(env.pool, running.taskId))!.error).toBe(
      'agent restarted while the task was running',
    );
    await until(
      async () => (await stateOf(queued.taskId)) === 'SUCCEEDED',
      60_000,
      'the queued task',
    );
    // Delivered again on the new stream, but run once.
    expect(readFileSync(counter, 'utf8')).toBe('run\n');
  });
});
