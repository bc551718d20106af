import type { Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@tripwire/logger';
import type { ExcludeMatcher } from './file-exclude.js';
import { isMissing, kindOf, statPath } from './file-facts.js';

/** What is under a path right now: the files to baseline and the directories to watch. */
export interface TreeScan {
  /** Regular files and symlinks, with their lstat. */
  files: Map<string, Stats>;
  /** Directories, with their inode (a new inode means the directory was replaced). */
  dirs: Map<string, number>;
  /**
   * Paths that exist but could not be listed or stat'ed (EACCES, EIO): their state is unknown,
   * so nothing known under them may be called deleted.
   */
  unknown: string[];
}

export interface ScanOptions {
  /** Enter subdirectories of the directory at `start`. */
  recursive: boolean;
  /** Follow a symlink at `start` itself (a rule's target may be a link; links inside are not followed). */
  follow: boolean;
  isExcluded: ExcludeMatcher;
  log: Logger;
}

/**
 * Lists `start` (a file, or a directory and, when recursive, everything under it) without
 * reading any content. Entries that vanish mid-scan are left out; unreadable directories are
 * logged and skipped. Devices, FIFOs and sockets are never listed (opening a FIFO would block).
 */
export async function scanTree(start: string, opts: ScanOptions): Promise<TreeScan> {
  const scan: TreeScan = { files: new Map(), dirs: new Map(), unknown: [] };
  const first = await statPath(start, opts.follow);
  const kind = kindOf(first);
  if (kind === 'file' || kind === 'symlink') scan.files.set(start, first!);
  if (kind !== 'dir') return scan;
  scan.dirs.set(start, first!.ino);

  const pending = [start];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) scan.dirs.delete(dir);
      else {
        opts.log.warn({ err, path: dir }, 'cannot list directory');
        scan.unknown.push(dir);
      }
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (opts.isExcluded(path)) continue;
      let st: Stats | null;
      try {
        st = await statPath(path, false);
      } catch (err) {
        opts.log.warn({ err, path }, 'cannot stat');
        scan.unknown.push(path);
        continue;
      }
      const entryKind = kindOf(st);
      if (entryKind === 'file' || entryKind === 'symlink') scan.files.set(path, st!);
      else if (entryKind === 'dir' && opts.recursive) {
        scan.dirs.set(path, st!.ino);
        pending.push(path);
      }
    }
  }
  return scan;
}
