import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { listPids } from './proc-processes.js';

/**
 * Which pid holds each socket inode, by reading every /proc/<pid>/fd/* link for `socket:[inode]`.
 * Costs a readlink per open descriptor on the machine, so it runs only when an alert fires. A
 * socket shared by several processes (inherited across fork) is given to the lowest pid.
 */
export async function findSocketOwners(
  procRoot: string,
  inodes: ReadonlySet<number>,
): Promise<Map<number, number>> {
  const owners = new Map<number, number>();
  const wanted = new Set([...inodes].filter((i) => i > 0).map((i) => `socket:[${i}]`));
  if (wanted.size === 0) return owners;
  const pids = (await listPids(procRoot)).sort((a, b) => a - b);
  for (const pid of pids) {
    const fdDir = join(procRoot, String(pid), 'fd');
    let fds: string[];
    try {
      fds = await readdir(fdDir);
    } catch {
      continue; // exited, or not ours to read
    }
    const links = await Promise.all(fds.map((fd) => readlink(join(fdDir, fd)).catch(() => '')));
    for (const link of links) {
      if (!wanted.has(link)) continue;
      const inode = Number(link.slice(8, -1));
      if (!owners.has(inode)) owners.set(inode, pid);
    }
    if (owners.size === wanted.size) break;
  }
  return owners;
}
