import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  type FileHandle,
  link,
  lstat,
  open,
  realpath,
  rename,
  unlink,
  utimes,
} from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirectory, type TaskOutcome } from '@tripwire/agent-sdk';
import { type QuarantineFile, type RestoreFile, TaskStatus } from '@tripwire/proto';
import { formatMode, hashFile } from '../../sensors/file-facts.js';
import type { QuarantineEntry, QuarantineManifest } from '../quarantine-manifest.js';
import { openRegularFile, readChunks } from '../safe-file.js';
import { checkPath, isInside, quoted, TaskRefusal } from '../task-inputs.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface QuarantineDeps {
  manifest: QuarantineManifest;
  /** The agent's state folder: quarantining its own files would break the agent. */
  stateDir: string;
}

/**
 * Moves a regular file (never a symlink, never through a symlinked folder) into the quarantine
 * folder at mode 0000, recording its hash, mode, owner and where it was. The manifest entry is
 * written first, so a crash mid-move leaves a record of what was being moved.
 */
export async function quarantineFile(
  params: QuarantineFile,
  signal: AbortSignal,
  deps: QuarantineDeps,
): Promise<TaskOutcome> {
  const path = checkPath('path', params.path);
  if (isInside(path, deps.stateDir) || isInside(deps.stateDir, path))
    throw new TaskRefusal("the agent's own state folder is not quarantined");
  const { handle, stats } = await openRegularFile(path);
  let entry: QuarantineEntry;
  const id = randomUUID();
  const dest = deps.manifest.fileOf(id);
  try {
    const { sha256 } = await readChunks(handle, Number.MAX_SAFE_INTEGER, signal);
    entry = {
      id,
      originalPath: path,
      sha256,
      size: stats.size,
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
      mtimeMs: stats.mtimeMs,
      quarantinedAt: new Date().toISOString(),
      state: 'moving',
    };
    await deps.manifest.put(entry);
    if ((await moveInto(path, dest, handle)) === 'renamed') {
      // Another file swapped in at the path after it was hashed: record what was really moved.
      const moved = await lstat(dest);
      if (moved.ino !== stats.ino)
        entry = { ...entry, sha256: await hashFile(dest), size: moved.size };
    }
  } finally {
    await handle.close();
  }
  await chmod(dest, 0o000);
  await fsyncDirectory(dirname(dest));
  await fsyncDirectory(dirname(path));
  await deps.manifest.put({ ...entry, state: 'held' });
  return {
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    response: {
      $case: 'quarantineFile',
      quarantineFile: {
        quarantineId: id,
        originalPath: path,
        sha256: entry.sha256,
        size: entry.size,
        mode: formatMode(entry.mode),
      },
    },
  };
}

/** A rename on the same filesystem; across filesystems a copy (fsynced) and then the unlink. */
async function moveInto(
  path: string,
  dest: string,
  source: FileHandle,
): Promise<'renamed' | 'copied'> {
  try {
    await rename(path, dest);
    return 'renamed';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const out = await open(
    dest,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    for (let offset = 0; ; ) {
      const buffer = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await source.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) break;
      await out.write(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
    await out.sync();
  } finally {
    await out.close();
  }
  await unlink(path);
  return 'copied';
}

/**
 * Puts a quarantined file back at its original path with its mode, owner and mtime. Refused
 * when that path is taken (a hard link never replaces an entry) or its folder is now reached
 * through a symlink; failed when the quarantined copy no longer has the recorded hash.
 */
export async function restoreFile(params: RestoreFile, deps: QuarantineDeps): Promise<TaskOutcome> {
  const id = params.quarantineId;
  if (!UUID.test(id)) throw new TaskRefusal(`quarantine_id ${quoted(id)} is not a quarantine id`);
  const entry = await deps.manifest.get(id);
  if (entry?.state !== 'held') throw new Error(`nothing is held in quarantine under ${id}`);
  const target = entry.originalPath;
  if (
    await lstat(target).then(
      () => true,
      () => false,
    )
  )
    throw new TaskRefusal(`${quoted(target)} is taken by another file now; move it away first`);
  const parent = dirname(target);
  const realParent = await realpath(parent).catch(() => {
    throw new Error(`the folder ${quoted(parent)} no longer exists`);
  });
  if (realParent !== parent)
    throw new TaskRefusal(
      `${quoted(parent)} is now reached through a symlink (it is ${quoted(realParent)})`,
    );
  const held = deps.manifest.fileOf(id);
  await chmod(held, 0o600);
  const sha256 = await hashFile(held);
  if (sha256 !== entry.sha256) {
    await chmod(held, 0o000);
    throw new Error(
      `the quarantined copy's hash is ${sha256}, not the recorded ${entry.sha256}; left in quarantine`,
    );
  }
  await placeBack(held, target);
  await chmod(target, entry.mode);
  await chown(target, entry.uid, entry.gid).catch(() => {}); // only root may; best effort
  await utimes(target, new Date(), new Date(entry.mtimeMs));
  await unlink(held);
  await fsyncDirectory(parent);
  await deps.manifest.remove(id);
  return {
    status: TaskStatus.TASK_STATUS_SUCCEEDED,
    response: { $case: 'restoreFile', restoreFile: { restoredPath: target, sha256 } },
  };
}

/** link() and COPYFILE_EXCL both fail on an existing entry: a file that appeared meanwhile is kept. */
async function placeBack(held: string, target: string): Promise<void> {
  try {
    await link(held, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TaskRefusal(`${quoted(target)} is taken by another file now`);
    if (code !== 'EXDEV') throw err;
    await copyFile(held, target, constants.COPYFILE_EXCL);
  }
}
