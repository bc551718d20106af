import { constants } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a rename or a new file in this folder durable (the folder's entry list is fsynced). */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// O_NOFOLLOW: a symlink at the path is never opened through; O_EXCL: neither is any other entry
// someone made there first. Together a planted link cannot redirect a write elsewhere.
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Opens `path` (default: an existing file, to read and write); a symlink there is refused (ELOOP). */
export function openNoFollow(
  path: string,
  flags = constants.O_RDWR,
  mode = 0o600,
): Promise<FileHandle> {
  return open(path, flags | constants.O_NOFOLLOW, mode);
}

/**
 * Creates `path` afresh (mode 0600) for a temporary file. Whatever was at the path (a file left
 * by a crash, or a symlink) is unlinked, never followed, and the create is tried once more;
 * a second collision means someone is racing us for the name, and is an error.
 */
export async function createTempFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, NEW_FILE, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await unlink(path);
  return open(path, NEW_FILE, 0o600);
}

/**
 * Replaces `path` with `contents` so that a crash leaves either the old file
 * or the new one, never a mix: temp file (mode 0600), fsync, rename, fsync the folder.
 */
export async function writeFileAtomic(path: string, contents: string): Promise<void> {
  const tmpPath = `${path}.tmp-${process.pid}`;
  const handle = await createTempFile(tmpPath);
  try {
    await handle.writeFile(contents);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmpPath).catch(() => {});
    throw err;
  }
  await handle.close();
  await rename(tmpPath, path);
  await fsyncDirectory(dirname(path));
}
