import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, type FileHandle, link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory, type TaskOutcome } from '@tripwire/agent-sdk';
import { type QuarantineFile, type RestoreFile, TaskStatus } from '@tripwire/proto';
import { formatMode, hashFile } from '../../sensors/file-facts.js';
import { PinnedFolder } from '../pinned-folder.js';
import type { QuarantineEntry, QuarantineManifest } from '../quarantine-manifest.js';
import { openRegularFileIn, readChunks } from '../safe-file.js';
import { checkPath, isInside, quoted, TaskRefusal } from '../task-inputs.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface QuarantineDeps {
  manifest: QuarantineManifest;
  /** The agent's state folder: quarantining its own files would break the agent. */
  stateDir: string;
  /** The path policy (path-policy.ts): throws a TaskRefusal for a path file actions may not touch. */
  allowPath?: (path: string) => void;
  /**
   * For tests only: called at the points where a local user could race the agent (after the
   * checks, before the file is moved or put back; after it is put back), to prove the race
   * changes nothing.
   */
  onStep?: (step: 'quarantine:checked' | 'restore:checked' | 'restore:placed') => Promise<void>;
}

/**
 * Moves a regular file (never a symlink, never through a symlinked folder) into the quarantine
 * folder at mode 0000, recording its hash, mode, owner and where it was. The manifest entry is
 * written first, so a crash mid-move leaves a record of what was being moved. Everything
 * happens in the file's folder as it was opened (pinned-folder.ts): swapping that folder for a
 * symlink meanwhile cannot make the agent move or remove a file elsewhere.
 */
export async function quarantineFile(
  params: QuarantineFile,
  signal: AbortSignal,
  deps: QuarantineDeps,
): Promise<TaskOutcome> {
  const path = checkPath('path', params.path);
  if (isInside(path, deps.stateDir) || isInside(deps.stateDir, path))
    throw new TaskRefusal("the agent's own state folder is not quarantined");
  const folder = await PinnedFolder.open(dirname(path));
  try {
    const entry = await moveToQuarantine(folder, basename(path), signal, deps);
    await deps.manifest.put({ ...entry, state: 'held' });
    return {
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      response: {
        $case: 'quarantineFile',
        quarantineFile: {
          quarantineId: entry.id,
          originalPath: path,
          sha256: entry.sha256,
          size: entry.size,
          mode: formatMode(entry.mode),
        },
      },
    };
  } finally {
    await folder.close();
  }
}

async function moveToQuarantine(
  folder: PinnedFolder,
  name: string,
  signal: AbortSignal,
  deps: QuarantineDeps,
): Promise<QuarantineEntry> {
  const { handle, stats } = await openRegularFileIn(folder, name);
  const id = randomUUID();
  const dest = deps.manifest.fileOf(id);
  let entry: QuarantineEntry;
  try {
    const { sha256 } = await readChunks(handle, Number.MAX_SAFE_INTEGER, signal);
    entry = {
      id,
      originalPath: join(folder.path, name),
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
    await deps.onStep?.('quarantine:checked');
    if ((await moveInto(folder.entry(name), dest, handle)) === 'renamed') {
      // Another file swapped in under that name after it was hashed: record what was really moved.
      const moved = await lstat(dest);
      if (moved.ino !== stats.ino)
        entry = { ...entry, sha256: await hashFile(dest), size: moved.size };
    }
  } finally {
    await handle.close();
  }
  await chmod(dest, 0o000);
  await fsyncDirectory(dirname(dest));
  await folder.sync();
  return entry;
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
    await copyContent(source, out);
    await out.sync();
  } finally {
    await out.close();
  }
  await unlink(path);
  return 'copied';
}

async function copyContent(source: FileHandle, out: FileHandle): Promise<void> {
  for (let offset = 0; ; ) {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    const { bytesRead } = await source.read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) return;
    await out.write(buffer.subarray(0, bytesRead));
    offset += bytesRead;
  }
}

/**
 * Puts a quarantined file back at its original path with its mode, owner and mtime. Refused
 * when that path is taken (a hard link never replaces an entry) or its folder is now reached
 * through a symlink; failed when the quarantined copy no longer has the recorded hash. The
 * mode, owner and mtime are set on the held file (or the copy's descriptor) before it appears
 * at the path, never by path afterwards: a symlink put there meanwhile would otherwise have the
 * agent chmod and chown whatever it points to (/etc/shadow).
 */
export async function restoreFile(params: RestoreFile, deps: QuarantineDeps): Promise<TaskOutcome> {
  const id = params.quarantineId;
  if (!UUID.test(id)) throw new TaskRefusal(`quarantine_id ${quoted(id)} is not a quarantine id`);
  const entry = await deps.manifest.get(id);
  if (entry?.state !== 'held') throw new Error(`nothing is held in quarantine under ${id}`);
  const target = entry.originalPath;
  // The allow-list may have shrunk since the file was quarantined: never put back outside it.
  deps.allowPath?.(target);
  const folder = await PinnedFolder.open(dirname(target));
  try {
    const name = basename(target);
    if (await exists(folder.entry(name)))
      throw new TaskRefusal(`${quoted(target)} is taken by another file now; move it away first`);
    const held = deps.manifest.fileOf(id);
    const sha256 = await checkHeldCopy(held, entry);
    await deps.onStep?.('restore:checked');
    await placeBack(held, folder.entry(name), entry);
    await deps.onStep?.('restore:placed');
    await unlink(held);
    await folder.sync();
    await deps.manifest.remove(id);
    return {
      status: TaskStatus.TASK_STATUS_SUCCEEDED,
      response: { $case: 'restoreFile', restoreFile: { restoredPath: target, sha256 } },
    };
  } finally {
    await folder.close();
  }
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** The held copy's hash, if it is still the recorded one; otherwise it stays held (mode 0000). */
async function checkHeldCopy(held: string, entry: QuarantineEntry): Promise<string> {
  await chmod(held, 0o600);
  const sha256 = await hashFile(held);
  if (sha256 !== entry.sha256) {
    await chmod(held, 0o000);
    throw new Error(
      `the quarantined copy's hash is ${sha256}, not the recorded ${entry.sha256}; left in quarantine`,
    );
  }
  return sha256;
}

/** Owner first: a chown (root's too) clears the setuid and setgid bits the mode then restores. */
async function restoreAttributes(file: FileHandle, entry: QuarantineEntry): Promise<void> {
  await file.chown(entry.uid, entry.gid).catch(() => {}); // only root may; best effort
  await file.chmod(entry.mode);
  await file.utimes(new Date(), new Date(entry.mtimeMs));
}

/**
 * link() and O_EXCL both fail on an existing entry: a file that appeared meanwhile is kept.
 * The attributes are set through a descriptor of the file itself, before it is at the path.
 */
async function placeBack(held: string, target: string, entry: QuarantineEntry): Promise<void> {
  const source = await open(held, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await restoreAttributes(source, entry);
    await link(held, target).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST')
        throw new TaskRefusal(`${quoted(target)} is taken by another file now`);
      if (err.code !== 'EXDEV') throw err;
      await copyInto(source, target, entry);
    });
  } catch (err) {
    await source.chmod(0o000); // still held: unreadable again
    throw err;
  } finally {
    await source.close();
  }
}

/** Across filesystems: a new file (never an existing one, never through a symlink), fsynced. */
async function copyInto(source: FileHandle, target: string, entry: QuarantineEntry): Promise<void> {
  const out = await open(
    target,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  ).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST')
      throw new TaskRefusal(`${quoted(target)} is taken by another file now`);
    throw err;
  });
  try {
    await copyContent(source, out);
    await restoreAttributes(out, entry);
    await out.sync();
  } finally {
    await out.close();
  }
}
