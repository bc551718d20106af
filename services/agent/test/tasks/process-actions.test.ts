import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { KillSignal, type ProcessEntry, type TaskResponse } from '@tripwire/proto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  processGone,
  startTicksOf,
  statusName,
  type TaskBench,
  taskBench,
  until,
} from './task-harness.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function sleeper(): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

const kill = (pid: number, startTicks: number, signal = KillSignal.KILL_SIGNAL_UNSPECIFIED) => ({
  task: { $case: 'killProcess' as const, killProcess: { pid, startTicks, signal } },
});

function listed<T>(bench: TaskBench, final: TaskResponse, pick: (r: TaskResponse) => T[]): T[] {
  return bench
    .of(final.taskId)
    .filter((r) => !r.isFinal)
    .flatMap(pick);
}

describe('process_list', () => {
  it('lists the processes with the identity kill_process needs', async () => {
    const bench = await taskBench();
    const pid = sleeper();
    const final = await bench.run({ task: { $case: 'processList', processList: {} } });
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    const all = listed(bench, final, (r) =>
      r.response?.$case === 'processList' ? r.response.processList.processes : [],
    );
    const entry = all.find((p: ProcessEntry) => p.pid === pid);
    expect(entry).toMatchObject({
      ppid: process.pid,
      comm: 'sleep',
      cmdline: 'sleep 300',
      startTicks: await startTicksOf(pid),
      uid: process.getuid!(),
    });
    expect(entry!.startTimeUs).toBeGreaterThan(Date.parse('2020-01-01') * 1000);
    expect(all.some((p) => p.pid === process.pid)).toBe(true);
  });

  it('stops at the output cap and marks the listing truncated', async () => {
    const bench = await taskBench({ maxOutputBytes: 2048 });
    const final = await bench.run({ task: { $case: 'processList', processList: {} } });
    expect(final.truncated).toBe(true);
  });
});

describe('network_connections', () => {
  it('lists a TCP listener and a UDP socket with the pid that holds them', async () => {
    const bench = await taskBench();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    try {
      const tcpPort = (server.address() as { port: number }).port;
      const udpPort = udp.address().port;
      const final = await bench.run({
        task: { $case: 'networkConnections', networkConnections: {} },
      });
      const all = listed(bench, final, (r) =>
        r.response?.$case === 'networkConnections' ? r.response.networkConnections.connections : [],
      );
      expect(all).toContainEqual(
        expect.objectContaining({
          protocol: 'tcp',
          localPort: tcpPort,
          state: 'LISTEN',
          pid: process.pid,
        }),
      );
      expect(all).toContainEqual(
        expect.objectContaining({ protocol: 'udp', localPort: udpPort, pid: process.pid }),
      );
    } finally {
      server.close();
      udp.close();
    }
  });
});

describe('kill_process', () => {
  it('kills the process when its start time matches', async () => {
    const bench = await taskBench();
    const pid = sleeper();
    const final = await bench.run(kill(pid, await startTicksOf(pid)));
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    expect(final.response).toEqual({
      $case: 'killProcess',
      killProcess: { pid, signal: 'SIGKILL', exited: true },
    });
    await until(() => processGone(pid), 5_000, 'the process to be gone');
  });

  it('refuses a pid whose start time differs (a reused pid), and the process lives', async () => {
    const bench = await taskBench();
    const pid = sleeper();
    const ticks = await startTicksOf(pid);
    const final = await bench.run(kill(pid, ticks + 1, KillSignal.KILL_SIGNAL_SIGTERM));
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
    expect(final.error).toContain('another process');
    expect(await processGone(pid)).toBe(false);
  });

  it.each([
    ['pid 1', 1],
    ['a negative pid (a process group to kill(2))', -5],
    ['pid 0 (our own group to kill(2))', 0],
    ['a pid past pid_max', 2 ** 31 - 1],
    ["the agent's own pid", process.pid],
    ["the agent's parent", process.ppid],
  ])('refuses %s', async (_what, pid) => {
    const bench = await taskBench();
    const ticks = pid > 0 && pid < 2 ** 22 ? await startTicksOf(pid).catch(() => 1) : 1;
    const final = await bench.run(kill(pid, ticks));
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
  });

  it('refuses without a start time', async () => {
    const bench = await taskBench();
    const pid = sleeper();
    expect(statusName(await bench.run(kill(pid, 0)))).toBe('TASK_STATUS_REFUSED');
    expect(await processGone(pid)).toBe(false);
  });
});
