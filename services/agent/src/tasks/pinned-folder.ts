import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { isMissing } from '../sensors/file-facts.js';
import { quoted, TaskRefusal } from './task-inputs.js';

const FOLDER_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

const symlinked = (path: string, real: string) =>
  new TaskRefusal(
    `${quoted(path)} goes through a symlinked folder (it is ${quoted(real)}): give the real path`,
  );

/**
 * A folder held open by descriptor, so what a task does in it happens in that very folder.
 *
 * Node has no openat/renameat/linkat, and a path is resolved anew by every call: a local user
 * who owns a folder on the way can swap it for a symlink between the agent's check and its
 * rename, link or unlink, and the agent (root) would move, remove or create a file wherever
 * the link points (/etc). `/proc/self/fd/<fd>/<name>` resolves through the descriptor instead
 * of the path, the way the *at() calls do, so the swap no longer matters once the folder is
 * open; and the descriptor's own path (its /proc link) must be the path asked for, so a folder
 * reached through a symlink is refused from the start.
 */
export class PinnedFolder {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens `path` (absolute, plain form); refused if it is reached through a symlink. */
  static async open(path: string): Promise<PinnedFolder> {
    const handle = await open(path, FOLDER_FLAGS).catch(async (err: NodeJS.ErrnoException) => {
      // O_NOFOLLOW on the folder itself: ELOOP (or ENOTDIR with O_DIRECTORY) for a symlink.
      if (err.code === 'ELOOP' || err.code === 'ENOTDIR') {
        const real = await realpath(path).catch(() => null);
        if (real && real !== path) throw symlinked(path, real);
      }
      if (isMissing(err)) throw new Error(`the folder ${quoted(path)} does not exist`);
      throw err;
    });
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => '?');
    if (real !== path) {
      await handle.close();
      throw symlinked(path, real);
    }
    return new PinnedFolder(path, handle);
  }

  /** A path to the entry `name` of this folder that no later change of the folder's path redirects. */
  entry(name: string): string {
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  /** Makes a rename, link or unlink in the folder durable. */
  sync(): Promise<void> {
    return this.handle.sync();
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
