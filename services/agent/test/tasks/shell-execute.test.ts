import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TaskStatus } from '@tripwire/proto';
import { describe, expect, it } from 'vitest';
import {
  processGone,
  shell,
  shellText,
  statusName,
  taskBench,
  taskId,
  tempDir,
  until,
} from './task-harness.js';

describe('shell_execute', () => {
  it('streams stdout and stderr while the process runs, then the exit code', async () => {
    const bench = await taskBench();
    const dir = tempDir('shell');
    const go = join(dir, 'go');
    const id = taskId();
    // The script prints, then waits for a file the test writes only once that first line has
    // arrived: a runner that sent output only at the end would never see it, and time out.
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 30,
      maxOutputBytes: 0,
      ...shell(
        `echo one; echo warn >&2; while [ ! -e ${go} ]; do sleep 0.05; done; echo two; exit 3`,
      ),
    });
    await until(() => shellText(bench.of(id), 'stdout') === 'one\n', 10_000, 'the first line');
    expect(bench.of(id).some((r) => r.isFinal)).toBe(false);
    expect(bench.of(id)[0]).toMatchObject({ status: TaskStatus.TASK_STATUS_RUNNING, sequence: 1 });
    writeFileSync(go, '');
    const final = await bench.final(id);
    expect(shellText(bench.of(id), 'stdout')).toBe('one\ntwo\n');
    expect(shellText(bench.of(id), 'stderr')).toBe('warn\n');
    expect(statusName(final)).toBe('TASK_STATUS_FAILED');
    expect(final.response).toMatchObject({ $case: 'shellExecute', shellExecute: { exitCode: 3 } });
    const sequences = bench.of(id).map((r) => r.sequence);
    expect(sequences).toEqual(sequences.map((_, i) => i + 1));
  });

  it('kills the whole process group on timeout: the sleeping grandchild is gone too', async () => {
    const bench = await taskBench();
    const id = taskId();
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 1,
      maxOutputBytes: 0,
      ...shell('sleep 300 & echo $!; wait'),
    });
    await until(() => /^\d+\n/.test(shellText(bench.of(id), 'stdout')), 10_000, 'the pid');
    const grandchild = Number(shellText(bench.of(id), 'stdout').trim());
    expect(await processGone(grandchild)).toBe(false);
    const final = await bench.final(id);
    expect(statusName(final)).toBe('TASK_STATUS_TIMED_OUT');
    await until(() => processGone(grandchild), 10_000, 'the grandchild to be killed');
  });

  it('acknowledges a cancel, kills the group and ends CANCELLED', async () => {
    const bench = await taskBench();
    const id = taskId();
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 300,
      maxOutputBytes: 0,
      ...shell('sleep 300 & echo $!; wait'),
    });
    await until(() => /^\d+\n/.test(shellText(bench.of(id), 'stdout')), 10_000, 'the pid');
    const grandchild = Number(shellText(bench.of(id), 'stdout').trim());
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 0,
      maxOutputBytes: 0,
      task: { $case: 'taskCancel', taskCancel: { reason: 'operator' } },
    });
    const final = await bench.final(id);
    const ack = bench.of(id).find((r) => r.response?.$case === 'taskCancel');
    expect(ack).toMatchObject({ cancelled: true, isFinal: false });
    expect(statusName(final)).toBe('TASK_STATUS_CANCELLED');
    expect(final.cancelled).toBe(true);
    await until(() => processGone(grandchild), 10_000, 'the grandchild to be killed');
  });

  it('a cancel that arrives before its task keeps the task from ever running', async () => {
    const bench = await taskBench();
    const dir = tempDir('cancel-first');
    const id = taskId();
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 0,
      maxOutputBytes: 0,
      task: { $case: 'taskCancel', taskCancel: { reason: '' } },
    });
    expect(statusName(await bench.final(id))).toBe('TASK_STATUS_CANCELLED');
    bench.dispatcher.handle({
      taskId: id,
      timeoutSeconds: 0,
      maxOutputBytes: 0,
      ...shell(`touch ${dir}/ran`),
    });
    await bench.journal.settled();
    expect(bench.dispatcher.stats.duplicates).toBe(1);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  it('cuts the output at the cap and marks it truncated', async () => {
    const bench = await taskBench();
    const final = await bench.run({
      maxOutputBytes: 100_000,
      ...shell("head -c 300000 /dev/zero | tr '\\0' a"),
    });
    const id = final.taskId;
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    expect(final.truncated).toBe(true);
    expect(shellText(bench.of(id), 'stdout')).toBe('a'.repeat(100_000));
  });

  it('never splits a UTF-8 character between chunks', async () => {
    const bench = await taskBench();
    // 40,000 three-byte characters: over the 32 KiB chunk size, so chunk edges fall inside some.
    const final = await bench.run(shell(`node -e "process.stdout.write('€'.repeat(40000))"`));
    expect(shellText(bench.of(final.taskId), 'stdout')).toBe('€'.repeat(40_000));
  });

  it("gives the task a clean environment: none of the agent's variables (its token) leak", async () => {
    const bench = await taskBench();
    process.env.TRIPWIRE_ENROLL_TOKEN = 'must-not-leak';
    try {
      const final = await bench.run(shell('env', { env: ['EXTRA=1'] }));
      const out = shellText(bench.of(final.taskId), 'stdout');
      expect(out).toContain('EXTRA=1');
      expect(out).not.toContain('must-not-leak');
    } finally {
      delete process.env.TRIPWIRE_ENROLL_TOKEN;
    }
  });
});

describe('shell_execute under an allow-list', () => {
  const restricted = () =>
    taskBench({ shellUnrestricted: false, shellAllowPatterns: ['echo [a-z ]+', 'printf .*'] });

  it('runs an allowed command and refuses one that matches no pattern whole', async () => {
    const bench = await restricted();
    const ok = await bench.run(shell('echo hello world'));
    expect(statusName(ok)).toBe('TASK_STATUS_SUCCEEDED');
    expect(shellText(bench.of(ok.taskId), 'stdout')).toBe('hello world\n');
    const dir = tempDir('allow');
    const chained = await bench.run(shell(`echo hi; touch ${dir}/pwned`));
    expect(statusName(chained)).toBe('TASK_STATUS_REFUSED');
    expect(chained.error).toContain('matches none of the shell allow patterns');
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('never uses a shell: an allowed command with $(...) prints it literally', async () => {
    const bench = await restricted();
    const dir = tempDir('allow');
    const final = await bench.run(shell(`printf %s $(touch ${dir}/pwned)`));
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    expect(shellText(bench.of(final.taskId), 'stdout')).toBe(`$(touch${dir}/pwned)`);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('refuses env (LD_PRELOAD, PATH could change what an allowed command runs)', async () => {
    const bench = await restricted();
    const final = await bench.run(shell('echo hi', { env: ['LD_PRELOAD=/tmp/evil.so'] }));
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
  });
});

describe('shell_execute under an allow-list, against a server that wants more', () => {
  it('refuses working_dir: an allowed relative command would run the files of another folder', async () => {
    // Meant to run the agent's own check script; a local user wrote one of theirs elsewhere.
    const bench = await taskBench({
      shellUnrestricted: false,
      shellAllowPatterns: ['sh check\\.sh'],
    });
    const drop = tempDir('drop');
    writeFileSync(join(drop, 'check.sh'), `touch ${drop}/pwned\n`);
    const final = await bench.run(shell('sh check.sh', { workingDir: drop }));
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
    expect(final.error).toContain('working_dir');
    expect(existsSync(join(drop, 'pwned'))).toBe(false);
  });

  it('refuses an arg holding whitespace: the matched line must split back into the argv run', async () => {
    const bench = await taskBench({
      shellUnrestricted: false,
      shellAllowPatterns: ['printf [a-z%-]+ [a-z]+ [a-z]+'],
    });
    // Matches as three words, would run as printf with one argument "x y".
    const merged = await bench.run(shell('printf', { args: ['%s-', 'x y'] }));
    expect(statusName(merged)).toBe('TASK_STATUS_REFUSED');
    expect(merged.error).toContain('whitespace');
    const split = await bench.run(shell('printf', { args: ['%s-', 'x', 'y'] }));
    expect(shellText(bench.of(split.taskId), 'stdout')).toBe('x-y-');
  });
});

describe('shell_execute nasty inputs', () => {
  it.each([
    ['a NUL in cmd', shell('echo a\0b')],
    ['a NUL in an arg', shell('echo', { args: ['a\0b'] })],
    ['an env entry that is not NAME=value', shell('true', { env: ['=oops'] })],
    ['a relative working_dir', shell('true', { workingDir: 'tmp' })],
    ['a working_dir with ..', shell('true', { workingDir: '/tmp/../etc' })],
    ['an empty cmd', shell('   ')],
    ['a huge cmd', shell('x'.repeat(100_000))],
  ])('refuses %s', async (_what, request) => {
    const bench = await taskBench();
    expect(statusName(await bench.run(request))).toBe('TASK_STATUS_REFUSED');
  });

  it('fails (not refuses) a command that does not exist, naming it', async () => {
    const bench = await taskBench();
    const final = await bench.run(shell('/no/such/program', { args: ['x'] }));
    expect(statusName(final)).toBe('TASK_STATUS_FAILED');
    expect(final.error).toContain('/no/such/program');
  });
});
