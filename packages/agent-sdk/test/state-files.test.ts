// The SDK's files against a local attacker: a symlink planted where the agent writes a temporary
// file, a token file with loose modes or of the wrong kind, and locks left by other processes.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentState } from '../src/agent-state.js';
import { writeFileAtomic } from '../src/atomic-file.js';
import { Outbox, readSecretFile } from '../src/index.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tripwire-state-files-'));
const children: Array<ReturnType<typeof spawn>> = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('temporary files', () => {
  it('a symlink planted at the temp path is replaced, never written through', async () => {
    const d = dir();
    const victim = join(dir(), 'victim');
    writeFileSync(victim, 'untouched\n');
    const path = join(d, 'credentials.json');
    symlinkSync(victim, `${path}.tmp-${process.pid}`);
    await writeFileAtomic(path, '{"hostId":"h"}\n');
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('{"hostId":"h"}\n');
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
  });

  it('the outbox refuses to open through a symlink', async () => {
    const d = dir();
    const victim = join(dir(), 'victim');
    writeFileSync(victim, 'untouched\n');
    symlinkSync(victim, join(d, 'outbox.log'));
    await expect(Outbox.open({ path: join(d, 'outbox.log') })).rejects.toThrow(/ELOOP/);
    expect(readFileSync(victim, 'utf8')).toBe('untouched\n');
    // Nothing held: a proper outbox opens in the same folder afterwards.
    const outbox = await Outbox.open({ path: join(d, 'other.log') });
    await outbox.close();
  });
});

describe('the state folder', () => {
  it('is refused when other users can write it, kept when private', async () => {
    const d = dir();
    chmodSync(d, 0o757);
    await expect(new AgentState(d).ensureDir()).rejects.toThrow(
      /is writable by other users \(mode 0757\).*chmod 700/,
    );
    chmodSync(d, 0o755);
    expect(await new AgentState(d).ensureDir()).toEqual({ readableByOthers: true });
    chmodSync(d, 0o700);
    expect(await new AgentState(d).ensureDir()).toEqual({ readableByOthers: false });
  });
});

describe('secret files', () => {
  const token = (text: string, mode = 0o600) => {
    const path = join(dir(), 'token');
    writeFileSync(path, text, { mode });
    chmodSync(path, mode);
    return path;
  };

  it('reads one trimmed line from a private file', async () => {
    expect(await readSecretFile(token('\t tok-123 \r\n'))).toBe('tok-123');
    expect(await readSecretFile(token('tok', 0o400))).toBe('tok');
  });

  it('refuses loose modes, empty files, several lines, huge files, folders and FIFOs', async () => {
    const fifo = join(dir(), 'fifo');
    await new Promise<void>((resolve, reject) =>
      spawn('mkfifo', [fifo]).once('exit', (c) =>
        c === 0 ? resolve() : reject(new Error('mkfifo')),
      ),
    );
    const cases: Array<[string, RegExp]> = [
      [token('tok', 0o604), /open to other users \(mode 0604\); chmod 600/],
      [token('tok', 0o620), /open to other users \(mode 0620\)/],
      [token(''), /is empty/],
      [token('a\nb'), /one token on one line/],
      [token('x'.repeat(5000)), /is 5000 bytes; it must hold only the token/],
      [dir(), /is not a regular file/],
      // Opened non-blocking: a FIFO with no writer is refused at once instead of hanging.
      [fifo, /is not a regular file/],
      [join(dir(), 'missing'), /cannot read the enrollment token file .*ENOENT/],
    ];
    for (const [path, message] of cases)
      await expect(readSecretFile(path)).rejects.toThrow(message);
  });
});

describe('the outbox lock', () => {
  it('an old-style PID lock is ignored unless its process really has the outbox open', async () => {
    const d = dir();
    const path = join(d, 'outbox.log');
    // A live, unrelated process: its PID alone proves nothing.
    const sleeper = spawn('sleep', ['60']);
    children.push(sleeper);
    writeFileSync(`${path}.lock`, String(sleeper.pid));
    const outbox = await Outbox.open({ path });
    await outbox.close();

    // An older agent, still running, with the outbox open.
    const holder = spawn(process.execPath, [
      '-e',
      `require('fs').openSync(${JSON.stringify(path)}, 'r+'); console.log('open'); setInterval(() => {}, 1000)`,
    ]);
    children.push(holder);
    await new Promise((r) => holder.stdout!.once('data', r));
    writeFileSync(`${path}.lock`, String(holder.pid));
    await expect(Outbox.open({ path })).rejects.toThrow(
      `in use by process ${holder.pid}, an older agent`,
    );
    holder.kill('SIGKILL');
  });

  it('a lock not refreshed within the stale time is taken over at once; a second open here is refused', async () => {
    const d = dir();
    const path = join(d, 'outbox.log');
    mkdirSync(`${path}.lockdir`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lockdir`, old, old);
    const outbox = await Outbox.open({ path });
    await expect(Outbox.open({ path })).rejects.toThrow('already open in this process');
    await outbox.close();
  });
});
