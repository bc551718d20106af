import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, readlink, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMissing } from '../sensors/file-facts.js';
import { PinnedFolder } from './pinned-folder.js';
import { quoted, TaskRefusal } from './task-inputs.js';

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const READ_CHUNK = 64 * 1024;

/**
 * Opens a regular file by its own path only: a symlink at the path, or a symlinked folder on
 * the way, is refused (the task would touch another file than the one named), and so is
 * anything else than a regular file (a FIFO would hang the read, a device never ends).
 */
export async function openRegularFile(path: string): Promise<{ handle: FileHandle; stats: Stats }> {
  const folder = await PinnedFolder.open(dirname(path));
  try {
    return await openRegularFileIn(folder, basename(path));
  } finally {
    await folder.close();
  }
}

/**
 * Opens the regular file `name` of a pinned folder (pinned-folder.ts): never a symlink
 * (O_NOFOLLOW), never another file than the one looked at (same inode after the open).
 */
export async function openRegularFileIn(
  folder: PinnedFolder,
  name: string,
): Promise<{ handle: FileHandle; stats: Stats }> {
  const path = join(folder.path, name);
  const entry = folder.entry(name);
  const link = await lstat(entry).catch((err: unknown) => {
    if (isMissing(err)) throw new Error(`${quoted(path)} does not exist`);
    throw err;
  });
  if (link.isSymbolicLink()) {
    const target = await readlink(entry).catch(() => '?');
    throw new TaskRefusal(
      `${quoted(path)} is a symlink (to ${quoted(target)}): give the file's own path`,
    );
  }
  if (!link.isFile()) throw new TaskRefusal(`${quoted(path)} is not a regular file`);
  const handle = await open(entry, READ_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.ino !== link.ino || stats.dev !== link.dev)
      throw new TaskRefusal(`${quoted(path)} changed while it was being opened`);
    // What the path policy checked is the path asked for: the opened descriptor must be there.
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => '?');
    if (opened !== path) throw new TaskRefusal(`${quoted(path)} was opened as ${quoted(opened)}`);
    await refusePseudoFile(handle, path);
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Kernel filesystems whose "regular files" are no evidence and some of them secrets:
 * /proc/<agent pid>/environ holds the agent's environment (its enrollment token), /proc/kcore
 * the memory; sysfs, debugfs and the like are the kernel's knobs. statfs(2) magic numbers.
 */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0xde5e81e4, 'efivarfs'],
  [0x63677270, 'cgroup2'],
  [0x27e0eb, 'cgroup'],
]);

/** Checked on the opened file itself (through its descriptor), wherever the filesystem is mounted. */
async function refusePseudoFile(handle: FileHandle, path: string): Promise<void> {
  const { type } = await statfs(`/proc/self/fd/${handle.fd}`);
  const kind = PSEUDO_FILESYSTEMS.get(type);
  if (kind)
    throw new TaskRefusal(`${quoted(path)} is on the kernel's ${kind} filesystem, not a file`);
}

/**
 * Reads the file from the start in chunks, up to `maxBytes`, handing each chunk on; returns the
 * SHA-256 of what was read and its length. Stops early when `signal` aborts.
 */
export async function readChunks(
  handle: FileHandle,
  maxBytes: number,
  signal: AbortSignal,
  onChunk?: (chunk: Buffer, offset: number) => void,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let offset = 0;
  while (offset < maxBytes && !signal.aborted) {
    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, maxBytes - offset));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) break;
    const chunk = buffer.subarray(0, bytesRead);
    hash.update(chunk);
    onChunk?.(chunk, offset);
    offset += bytesRead;
  }
  return { sha256: hash.digest('hex'), bytes: offset };
}
