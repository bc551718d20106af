import { open, rename, unlink } from 'node:fs/promises';
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

/**
 * Replaces `path` with `contents` so that a crash leaves either the old file
 * or the new one, never a mix: temp file (mode 0600), fsync, rename, fsync the folder.
 */
export async function writeFileAtomic(path: string, contents: string): Promise<void> {
  const tmpPath = `${path}.tmp-${process.pid}`;
  const handle = await open(tmpPath, 'w', 0o600);
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
