import { open, readFile, unlink } from 'node:fs/promises';

export interface LockFile {
  release(): Promise<void>;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per outbox: a lock file holding the owner's pid. A lock left by
 * a process that no longer runs (kill -9, power loss) is taken over.
 */
export async function acquireLockFile(path: string): Promise<LockFile> {
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return { release: () => unlink(path).catch(() => {}) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (pid === process.pid) throw new Error(`${path}: already open in this process`);
    if (pid > 0 && processAlive(pid)) throw new Error(`${path}: in use by process ${pid}`);
    await unlink(path).catch(() => {});
  }
}
