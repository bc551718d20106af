import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shell, statusName, taskBench, tempDir } from './task-harness.js';

describe('the agent policy', () => {
  it('refuses an action its configuration does not enable, running nothing', async () => {
    const bench = await taskBench({ enabledActions: ['file_hash'] });
    const dir = tempDir('policy');
    const final = await bench.run(shell(`touch ${dir}/ran`));
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
    expect(final.error).toContain('shell_execute is not enabled');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    // Refused before it started: no RUNNING response, only the outcome.
    expect(bench.of(final.taskId)).toEqual([final]);
    expect(bench.policy.report().enabledActions).toEqual(['file_hash']);
  });

  it('a kill switch file refuses everything at once, and the report says so', async () => {
    const bench = await taskBench();
    const dir = tempDir('policy');
    const killSwitch = bench.policy.settings.killSwitchFile;
    let changes = 0;
    bench.policy.onChange(() => changes++);
    writeFileSync(killSwitch, '');
    const refused = await bench.run(shell(`touch ${dir}/ran`));
    expect(statusName(refused)).toBe('TASK_STATUS_REFUSED');
    expect(refused.error).toContain('switched off');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(bench.policy.report().killSwitch).toBe(true);
    expect(changes).toBe(1);
    rmSync(killSwitch);
    expect(statusName(await bench.run(shell(`touch ${dir}/ran`)))).toBe('TASK_STATUS_SUCCEEDED');
    expect(bench.policy.report().killSwitch).toBe(false);
  });

  it('refuses an action it does not know (a Docker operation from a newer server)', async () => {
    const bench = await taskBench();
    const final = await bench.run({ task: undefined });
    expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
  });

  it('refuses more tasks than it runs at once', async () => {
    const bench = await taskBench({ maxConcurrent: 1 });
    const first = 'busy-1';
    bench.dispatcher.handle({
      taskId: first,
      timeoutSeconds: 30,
      maxOutputBytes: 0,
      ...shell('sleep 30'),
    });
    const second = await bench.run(shell('true'));
    expect(statusName(second)).toBe('TASK_STATUS_REFUSED');
    expect(second.error).toContain('busy');
    await bench.dispatcher.stop();
    expect(statusName(await bench.final(first))).toBe('TASK_STATUS_FAILED');
  });
});

describe('task ids', () => {
  it('runs a task id once: a redelivery is answered with the stored outcome', async () => {
    const bench = await taskBench();
    const counter = join(tempDir('dup'), 'count');
    const first = await bench.run({ taskId: 'dup-1', ...shell(`echo x >> ${counter}`) });
    expect(statusName(first)).toBe('TASK_STATUS_SUCCEEDED');
    const before = bench.of('dup-1').length;
    bench.dispatcher.handle({
      taskId: 'dup-1',
      timeoutSeconds: 0,
      maxOutputBytes: 0,
      ...shell(`echo x >> ${counter}`),
    });
    await bench.journal.settled();
    expect(bench.dispatcher.stats.duplicates).toBe(1);
    expect(bench.of('dup-1').slice(before)).toEqual([first]);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8')).toBe('x\n');
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['odd characters', 'a/b'],
    ['NUL', 'a\0b'],
  ])('drops a request whose task_id is %s', async (_what, id) => {
    const bench = await taskBench();
    bench.dispatcher.handle({ taskId: id, timeoutSeconds: 0, maxOutputBytes: 0, ...shell('true') });
    expect(bench.dispatcher.stats.invalid).toBe(1);
    expect(bench.responses).toEqual([]);
  });
});

describe('the shell allow file', () => {
  it('reads one RE2 pattern a line, and refuses a file others can write or a pattern RE2 cannot run', async () => {
    const { readShellAllowFile } = await import('../../src/tasks/shell-allow-file.js');
    const { TaskPolicy } = await import('../../src/tasks/task-policy.js');
    const { chmodSync } = await import('node:fs');
    const path = join(tempDir('allow'), 'allow');
    writeFileSync(path, '# what responders may run\n\nsystemctl status [a-z-]+\n ss -tnp \n', {
      mode: 0o644,
    });
    const patterns = await readShellAllowFile(path);
    expect(patterns).toEqual(['systemctl status [a-z-]+', 'ss -tnp']);
    chmodSync(path, 0o666);
    await expect(readShellAllowFile(path)).rejects.toThrow(/writable by other users/);
    const settings = { ...(await taskBench()).policy.settings, shellUnrestricted: false };
    expect(() => new TaskPolicy({ ...settings, shellAllowPatterns: ['(a)\\1'] })).toThrow(
      /not an RE2 expression/,
    );
    const policy = new TaskPolicy({ ...settings, shellAllowPatterns: patterns });
    expect(policy.shellAllows('systemctl status sshd')).toBe(true);
    expect(policy.shellAllows('systemctl status sshd; reboot')).toBe(false);
    expect(policy.shellAllows('xsystemctl status sshd')).toBe(false);
  });
});
