// Agents before proper-lockfile kept `<outbox>.lock`, a file holding the owner's PID. After an
// upgrade such a file is almost always a leftover, and its PID may long since belong to an
// unrelated process; it is removed unless that process really has the outbox open (an older
// agent still running on this folder), which /proc shows on Linux.
import { readdir, readFile, readlink, realpath, unlink } from 'node:fs/promises';

async function holdsOpen(pid: number, path: string): Promise<boolean> {
  const target = await realpath(path).catch(() => path);
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (link === target) return true;
  }
  return false;
}

/** Removes `legacyPath` (an old agent's PID lock) unless its process has `guardedPath` open. */
export async function clearLegacyLockFile(legacyPath: string, guardedPath: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(legacyPath, { encoding: 'utf8', flag: 'r' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Missing: nothing to do. A directory or unreadable entry: not ours to judge; the new lock
    // lives elsewhere, so leave it.
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') return;
    throw err;
  }
  const pid = Number.parseInt(text.slice(0, 20), 10);
  if (pid > 0 && pid !== process.pid && (await holdsOpen(pid, guardedPath)))
    throw new Error(
      `${guardedPath}: in use by process ${pid}, an older agent (${legacyPath}); stop it first`,
    );
  await unlink(legacyPath).catch(() => {});
}
