// tripwire-agent itself (its CLI, its own process) against a real gRPC server playing the
// server's part of TaskService: the policy at connect, a shell task streamed over the wire,
// outcomes resent until acknowledged, and the journal across a kill -9.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TaskStatus } from '@tripwire/proto';
import { ServiceProcess } from '@tripwire/test-fixtures';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTaskServer } from './fake-task-server.js';
import { shell, shellText, tempDir, until } from './task-harness.js';

const AGENT_DIR = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeServer(): Promise<FakeTaskServer> {
  const server = new FakeTaskServer();
  await server.start();
  cleanups.push(() => server.stop());
  return server;
}

function agent(server: FakeTaskServer, stateDir: string, extra: string[] = []): ServiceProcess {
  const rules = join(tempDir('rules'), 'rules.json');
  writeFileSync(rules, JSON.stringify({ rules: [] }));
  const proc = new ServiceProcess(AGENT_DIR, ['src/cli.ts'], {
    TRIPWIRE_LOG_LEVEL: 'debug',
    TRIPWIRE_ENROLL_TOKEN: 'fake-enrollment-token',
    TRIPWIRE_LOCK_STALE_S: '2',
  });
  const args = ['run', '--server', server.address, '--insecure', '--state-dir', stateDir];
  args.push('--rules-file', rules, '--task-shell-unrestricted', ...extra);
  proc.spawn([...args, '--task-actions', 'shell_execute,file_hash']);
  cleanups.push(() => proc.kill9());
  return proc;
}

const request = (taskId: string, cmd: string) => ({
  taskId,
  timeoutSeconds: 60,
  maxOutputBytes: 0,
  ...shell(cmd),
});

describe('the task stream between tripwire-agent and the server', () => {
  it('reports the policy first, streams a shell task live, and forgets an acknowledged outcome', async () => {
    const server = await fakeServer();
    const stateDir = tempDir('agent-tasks');
    agent(server, stateDir);
    await until(() => server.policies.length > 0, 30_000, 'the policy');
    expect(server.streams[0]!.first).toBe('policy');
    expect(server.policies[0]).toMatchObject({
      enabledActions: ['shell_execute', 'file_hash'],
      shellRestricted: false,
      killSwitch: false,
      defaultTimeoutSeconds: 60,
      maxOutputBytes: 1024 * 1024,
    });
    const go = join(stateDir, 'go');
    await server.sendTask(
      request('wire-1', `echo first; while [ ! -e ${go} ]; do sleep 0.05; done; echo second`),
    );
    // The first line crosses the wire while the process still waits: output is live.
    await until(() => shellText(server.of('wire-1'), 'stdout') === 'first\n', 20_000, 'first line');
    writeFileSync(go, '');
    const final = await server.final('wire-1');
    expect(final).toMatchObject({ status: TaskStatus.TASK_STATUS_SUCCEEDED, isFinal: true });
    expect(final.response).toMatchObject({ shellExecute: { exitCode: 0 } });
    expect(shellText(server.of('wire-1'), 'stdout')).toBe('first\nsecond\n');
    const journal = () => JSON.parse(readFileSync(join(stateDir, 'tasks.json'), 'utf8'));
    await until(() => journal().tasks[0]?.acked === true, 10_000, 'the outcome acknowledged');
    expect(journal().tasks[0].outcome).toBeUndefined();
  });

  it('resends an unacknowledged outcome on the next stream', async () => {
    const server = await fakeServer();
    server.ackOutcomes = false;
    agent(server, tempDir('agent-tasks'));
    await server.sendTask(request('resend-1', 'echo done'));
    await server.final('resend-1');
    server.ackOutcomes = true;
    server.dropStream();
    await until(
      () => server.of('resend-1').filter((r) => r.isFinal).length === 2,
      30_000,
      'the outcome again after the reconnect',
    );
    expect(server.streams.length).toBeGreaterThanOrEqual(2);
  });

  it('after kill -9 mid-task, the restarted agent reports the task FAILED and never runs it again', async () => {
    const server = await fakeServer();
    const stateDir = tempDir('agent-tasks');
    const counter = join(stateDir, 'runs');
    const first = agent(server, stateDir);
    const task = request('crash-1', `echo run >> ${counter}; echo $$; exec sleep 300`);
    await server.sendTask(task);
    await until(
      () => /\d+\n/.test(shellText(server.of('crash-1'), 'stdout')),
      20_000,
      'the task running',
    );
    const pgid = Number(shellText(server.of('crash-1'), 'stdout').trim());
    cleanups.push(() => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {}
    });
    await first.kill9();
    server.dropStream();
    // The server delivers it again on the new stream (at least once).
    server.redeliver = [task];
    agent(server, stateDir);
    const final = await server.final('crash-1');
    expect(final).toMatchObject({
      status: TaskStatus.TASK_STATUS_FAILED,
      error: 'agent restarted while the task was running',
    });
    await until(() => server.streams.length >= 2, 20_000, 'the second stream');
    // The redelivery is answered with the same outcome, not run: one line in the counter.
    await until(
      () => server.of('crash-1').filter((r) => r.isFinal).length >= 2,
      20_000,
      'the repeat',
    );
    const started = server
      .of('crash-1')
      .filter((r) => r.status === TaskStatus.TASK_STATUS_RUNNING && r.sequence === 1);
    expect(started).toHaveLength(1);
    expect(readFileSync(counter, 'utf8')).toBe('run\n');
  });
});
