import { readPolicyFile } from './policy-file.js';
import { checkPath, isInside, quoted, TaskRefusal } from './task-inputs.js';

/**
 * Where file actions (file_hash, file_fetch, quarantine_file, restore_file) may touch files.
 * Without a path allow file they touch nothing: a responder, or whoever stole a responder's
 * session, would otherwise read /etc/shadow or SSH host keys of every host, or quarantine
 * /bin/sh. The agent's own state folder and secret files are refused even when a listed folder
 * holds them (credentials.json is the agent token: with it a responder becomes the agent).
 *
 * Paths are compared in their plain form (checkPath) and the file is then opened only through
 * a folder whose descriptor's own path is that very folder (pinned-folder.ts, O_NOFOLLOW, the
 * inode compared, the opened file's descriptor path checked again in safe-file.ts), so the
 * path checked here is the file touched: no symlink or `..` leads out of a listed folder.
 */
export class PathPolicy {
  constructor(
    /** Folders (everything beneath) and files; null: no allow file, every path refused. */
    private readonly allowed: readonly string[] | null,
    /** Never touched, whatever `allowed` says: the state folder, the token file, the TLS key. */
    private readonly denied: readonly string[],
  ) {}

  /** Throws a TaskRefusal unless file actions may touch `path` (absolute, plain form). */
  check(path: string): void {
    if (this.denied.some((d) => isInside(path, d) || isInside(d, path)))
      throw new TaskRefusal(
        `${quoted(path)} is in the agent's own state folder or credentials: never touched`,
      );
    if (this.allowed === null)
      throw new TaskRefusal(
        'no path allow file on this host (--task-path-allow-file): file actions touch no file',
      );
    if (!this.allowed.some((a) => isInside(path, a)))
      throw new TaskRefusal(
        `${quoted(path)} is outside the folders this host allows file actions in`,
      );
  }

  /** The allow-list as the log and the policy report show it. */
  describe(): string {
    return this.allowed === null ? 'none (file actions refused)' : this.allowed.join(', ');
  }
}

/** The path allow file: one absolute path a line, a folder (all beneath it) or a file. */
export async function readPathAllowFile(path: string): Promise<string[]> {
  const entries = await readPolicyFile('path allow file', path);
  return entries.map((entry) => {
    try {
      return checkPath('entry', entry);
    } catch (err) {
      throw new Error(`the path allow file ${path}: ${quoted(entry)}: ${(err as Error).message}`);
    }
  });
}
