// The path allow-list of file actions (path-policy.ts), through the dispatcher and executor as
// the task stream drives them, on real files: what a responder (or a stolen responder session)
// asks for outside the listed folders is REFUSED with the reason and no byte is sent.
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPathAllowFile } from '../../src/tasks/path-policy.js';
import { statusName, type TaskBench, taskBench, tempDir } from './task-harness.js';

const fetch = (path: string) => ({
  task: { $case: 'fileFetch' as const, fileFetch: { path, maxBytes: 0 } },
});
const hash = (path: string) => ({ task: { $case: 'fileHash' as const, fileHash: { path } } });
const quarantine = (path: string) => ({
  task: { $case: 'quarantineFile' as const, quarantineFile: { path } },
});

const sentBytes = (bench: TaskBench, taskId: string) =>
  bench.of(taskId).filter((r) => !r.isFinal && r.response?.$case === 'fileFetch').length;

async function refused(bench: TaskBench, request: Parameters<TaskBench['run']>[0], reason: RegExp) {
  const final = await bench.run(request);
  expect(statusName(final)).toBe('TASK_STATUS_REFUSED');
  expect(final.error).toMatch(reason);
  expect(sentBytes(bench, final.taskId)).toBe(0);
}

describe('the path allow-list of file actions', () => {
  it('refuses /etc/shadow and a symlink out of an allowed folder, serves a file inside it', async () => {
    const allowed = tempDir('allowed');
    writeFileSync(join(allowed, 'evidence.log'), 'evidence');
    symlinkSync('/etc/shadow', join(allowed, 'shadow-link'));
    mkdirSync(join(allowed, 'sub'));
    const bench = await taskBench({}, [allowed]);
    await refused(bench, fetch('/etc/shadow'), /outside the folders this host allows/);
    await refused(bench, hash('/etc/passwd'), /outside the folders this host allows/);
    await refused(bench, quarantine('/etc/hostname'), /outside the folders this host allows/);
    // A sibling whose name extends the allowed folder's is not inside it.
    await refused(bench, fetch(`${allowed}-other/x`), /outside the folders/);
    await refused(bench, fetch(`${allowed}/../../etc/shadow`), /"\.\." segments/);
    await refused(
      bench,
      fetch(join(allowed, 'shadow-link')),
      /is a symlink \(to "\/etc\/shadow"\)/,
    );
    const ok = await bench.run(fetch(join(allowed, 'evidence.log')));
    expect(statusName(ok)).toBe('TASK_STATUS_SUCCEEDED');
    expect(sentBytes(bench, ok.taskId)).toBe(1);
  });

  it("refuses the agent's own state folder even when an allowed folder holds it", async () => {
    const bench = await taskBench({}, ['/']);
    writeFileSync(join(bench.stateDir, 'credentials.json'), '{"agent_token":"secret"}');
    await refused(bench, fetch(join(bench.stateDir, 'credentials.json')), /own state folder/);
    await refused(bench, hash(join(bench.stateDir, 'credentials.json')), /own state folder/);
  });

  it('touches no file without an allow file', async () => {
    const bench = await taskBench({}, null);
    const path = join(tempDir('no-allow'), 'f');
    writeFileSync(path, 'x');
    await refused(bench, hash(path), /no path allow file on this host/);
  });

  it('reads the allow file only when safe: owner, mode, plain absolute entries', async () => {
    const dir = tempDir('allow-file');
    const file = join(dir, 'paths');
    writeFileSync(file, '# evidence folders\n/srv/www\n\n/var/log/app.log\n');
    chmodSync(file, 0o644);
    expect(await readPathAllowFile(file)).toEqual(['/srv/www', '/var/log/app.log']);
    chmodSync(file, 0o666);
    await expect(readPathAllowFile(file)).rejects.toThrow(/writable by other users/);
    chmodSync(file, 0o644);
    for (const bad of ['srv/www', '/srv/../etc', '/srv//www']) {
      writeFileSync(file, `${bad}\n`);
      await expect(readPathAllowFile(file)).rejects.toThrow(/path allow file/);
    }
    symlinkSync(file, join(dir, 'link'));
    await expect(readPathAllowFile(join(dir, 'link'))).rejects.toThrow(/cannot read/);
  });
});
